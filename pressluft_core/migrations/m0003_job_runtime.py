"""Migration 3: what the job runner and the SSH layer need beyond the seed.

- ``nodes.ssh_host_key``: the host key recorded on first use (a change is refused).
- ``jobs.progress``: the current step line (``step 3/7: importing database``) so lists
  can show it without reading log files.
- ``jobs.queue_seq``: enqueue order. ``created_at`` has one-second resolution, too coarse
  to keep a site's jobs in the order they were asked for; PostgreSQL fills it from a
  sequence, SQLite (whose writers are serialised) with ``MAX + 1`` at enqueue.
- ``job_schedules``: one row per periodic job and period; its primary key is what makes a
  periodic job enqueue once per period however many workers run the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "job runtime"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("ALTER TABLE nodes ADD COLUMN ssh_host_key TEXT NULL")
    execute("ALTER TABLE jobs ADD COLUMN progress TEXT NULL")
    if dialect == "postgresql":
        execute("ALTER TABLE jobs ADD COLUMN queue_seq BIGSERIAL")
    else:
        execute("ALTER TABLE jobs ADD COLUMN queue_seq INTEGER NULL")
        execute("UPDATE jobs SET queue_seq = rowid")
    execute("CREATE INDEX jobs_queue_seq ON jobs (queue_seq)")
    execute(
        "CREATE TABLE job_schedules ("
        "name TEXT NOT NULL, "
        "period_key TEXT NOT NULL, "
        "job_id TEXT NOT NULL REFERENCES jobs (id), "
        "created_at TEXT NOT NULL, "
        "PRIMARY KEY (name, period_key))"
    )
