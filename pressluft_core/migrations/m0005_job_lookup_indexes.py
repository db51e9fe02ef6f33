"""Migration 5: indexes for the console's lists on large installations.

- ``jobs (site_id, queue_seq)``: each site's latest job (the home screen's "last job"
  column) and a site's job list, newest first, without scanning every job.
- ``jobs (updated_at)``: the console's change detection (``MAX(updated_at)``) without a
  scan, every second, on a table that grows by every job ever run.
- ``jobs (queue_seq)`` already orders the global job list (migration 3).
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "job lookup indexes"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("CREATE INDEX jobs_site_id_queue_seq ON jobs (site_id, queue_seq)")
    execute("CREATE INDEX jobs_updated_at ON jobs (updated_at)")
