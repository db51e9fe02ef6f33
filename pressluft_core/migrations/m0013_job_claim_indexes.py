"""Migration 13: the queue's claim rules as indexes (issue 15).

- ``jobs (site_id) WHERE status = 'running'`` and ``jobs (node_id) WHERE status =
  'running'``, both UNIQUE: at most one running job per site and per node, enforced by the
  database itself. A PostgreSQL claim is then one statement: when two workers race for one
  site or node, the second one's claim fails with a unique violation (it waits for the
  first to commit) instead of needing advisory locks and a second, fresh read.
- ``jobs (queue_seq) WHERE status = 'queued'``: the claim scans queued jobs in queue order
  without walking over every finished job ever run.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "job claim indexes"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("CREATE UNIQUE INDEX jobs_one_running_per_site ON jobs (site_id) "
            "WHERE status = 'running'")
    execute("CREATE UNIQUE INDEX jobs_one_running_per_node ON jobs (node_id) "
            "WHERE status = 'running'")
    execute("CREATE INDEX jobs_queued_node_id_queue_seq ON jobs (node_id, queue_seq) "
            "WHERE status = 'queued'")
