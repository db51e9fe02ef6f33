"""Claiming jobs: several due jobs in one statement, never two of one site or one node.

A claim takes the oldest runnable jobs whose site and node have no running job and whose
site has no older queued job (a site's jobs run in the order they were asked for), at most
one per node, and starts them: ``status=running``, lease, attempt counted, the first step's
progress, and the environment (and site) moved to the job type's running status, all in
one transaction (DESIGN.md §4).

SQLite serialises claims with ``BEGIN IMMEDIATE``. PostgreSQL claims in one statement:
the free nodes' rows and the picked jobs are locked with ``SKIP LOCKED`` (concurrent
claims pass each other by), and migration 13's unique indexes (one running job per site,
one per node) stop two workers that raced for one site or node anyway: the second one's
statement waits for the first to commit, fails, and is tried again with a fresh snapshot
that sees the first one's claim.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from typing import Any

import peewee

from pressluft_core.db import dialect_of, write_transaction
from pressluft_core.jobs.events import BUS, JobStateChanged
from pressluft_core.jobs.registry import load_handlers
from pressluft_core.records import JobRecord, NodeAddress
from pressluft_core.services.base import Runtime

log = logging.getLogger(__name__)
RECORD_COLUMNS = [f.name for f in dataclasses.fields(JobRecord)]
NODE_COLUMNS = ["hostname", "ssh_port", "ssh_user", "ssh_host_key", "name"]
# A claim that lost a race to another worker is tried again with a fresh snapshot; past
# this the jobs left are claimed at the next wake-up.
PG_ATTEMPTS = 5
# A job is eligible when it is due, its site has no running job and it is its site's
# oldest queued job (a site's jobs run in the order they were asked for). The busy set is
# an uncorrelated subquery, computed once per claim.
_ELIGIBLE = """
j.status = 'queued' AND (j.run_after IS NULL OR j.run_after <= {now}) {only}
  AND (j.site_id IS NULL OR j.site_id NOT IN (
       SELECT r.site_id FROM jobs r WHERE r.status = 'running' AND r.site_id IS NOT NULL))
  AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.status = 'queued' AND e.site_id = j.site_id
                  AND e.queue_seq < j.queue_seq)
"""
_FREE_NODES = """
n.id NOT IN (SELECT r.node_id FROM jobs r WHERE r.status = 'running'
             AND r.node_id IS NOT NULL)
"""
# Per free node, its oldest eligible job (an index probe on jobs (node_id, queue_seq),
# however long the queue behind busy nodes is); jobs without a node are each their own.
# Eligible jobs are their site's oldest, so the picks' sites differ too.
_SQLITE_PICKED = """
SELECT id FROM (
  SELECT p.id, p.queue_seq FROM nodes n JOIN jobs p ON p.id = (
    SELECT j.id FROM jobs j WHERE j.node_id = n.id AND {eligible}
    ORDER BY j.queue_seq LIMIT 1)
  WHERE {free_nodes}
  UNION ALL
  SELECT * FROM (SELECT j.id, j.queue_seq FROM jobs j WHERE j.node_id IS NULL AND {eligible}
                 ORDER BY j.queue_seq LIMIT {limit})
) ORDER BY queue_seq LIMIT {limit}
"""
# PostgreSQL locks what it picks, skipping rows and nodes another claim holds right now, so
# concurrent claims rarely meet; the unique indexes settle the rest.
_PG_PICKED = """
free_nodes AS (SELECT n.id FROM nodes n WHERE {free_nodes} FOR NO KEY UPDATE OF n SKIP LOCKED),
loose AS (SELECT j.id, j.queue_seq FROM jobs j WHERE j.node_id IS NULL AND {eligible}
          ORDER BY j.queue_seq LIMIT {limit} FOR UPDATE OF j SKIP LOCKED),
picked AS (
  SELECT id FROM (
    SELECT c.id, c.queue_seq FROM free_nodes n CROSS JOIN LATERAL (
      SELECT j.id, j.queue_seq FROM jobs j WHERE j.node_id = n.id AND {eligible}
      ORDER BY j.queue_seq LIMIT 1 FOR UPDATE OF j SKIP LOCKED) c
    UNION ALL SELECT id, queue_seq FROM loose
  ) u ORDER BY queue_seq LIMIT {limit})
"""
_SET_RUNNING = """
status = 'running', locked_at = {now}, locked_by = {worker}, started_at = {now},
finished_at = NULL, attempt_count = attempt_count + 1, updated_at = {now},
progress = {progress}
"""
_RETURNING = ", ".join([*RECORD_COLUMNS, "queue_seq"])
_SQLITE_SET = _SET_RUNNING.format(
    now=":now", worker=":worker",
    progress="""json_extract(:types, '$."' || job_type || '".progress')""")
_PG_SET = _SET_RUNNING.format(
    now="%(now)s", worker="%(worker)s",
    progress="CAST(%(types)s AS jsonb) -> job_type ->> 'progress'")

_SQLITE_CLAIM = f"""
UPDATE jobs SET {_SQLITE_SET}
WHERE id IN ({{picked}})
RETURNING {_RETURNING}
"""
# Data-modifying CTEs all run, once, in the statement's one transaction.
_PG_CLAIM = f"""
WITH {{picked}},
claimed AS (
  UPDATE jobs SET {_PG_SET}
  WHERE id IN (SELECT id FROM picked)
  RETURNING {_RETURNING}
),
moved_environments AS (
  UPDATE environments e SET status = CAST(%(types)s AS jsonb) -> c.job_type ->> 'running',
    updated_at = %(now)s, state_version = e.state_version + 1
  FROM claimed c
  WHERE e.id = c.environment_id
    AND CAST(%(types)s AS jsonb) -> c.job_type ->> 'running' IS NOT NULL
  RETURNING e.id
),
moved_sites AS (
  UPDATE sites s SET status = CAST(%(types)s AS jsonb) -> c.job_type ->> 'running',
    updated_at = %(now)s, state_version = s.state_version + 1
  FROM claimed c
  WHERE s.id = c.site_id AND CAST(%(types)s AS jsonb) -> c.job_type ->> 'running' IS NOT NULL
    AND CAST(%(types)s AS jsonb) -> c.job_type ->> 'moves_site' = 'true'
  RETURNING s.id
)
SELECT {", ".join(f"c.{column}" for column in [*RECORD_COLUMNS, "queue_seq"])},
  {", ".join(f"n.{column}" for column in NODE_COLUMNS)}
FROM claimed c LEFT JOIN nodes n ON n.id = c.node_id
"""


@functools.lru_cache(maxsize=64)
def _statement(dialect: str, only: bool, limit: int) -> str:
    """The claim's text, stable per (dialect, only, limit) so PostgreSQL's driver prepares
    it once and the server reuses the plan."""
    if dialect == "sqlite":
        eligible = _ELIGIBLE.format(now=":now", only="AND j.id = :only" if only else "")
        picked = _SQLITE_PICKED.format(eligible=eligible, free_nodes=_FREE_NODES, limit=limit)
        return _SQLITE_CLAIM.format(picked=picked)
    eligible = _ELIGIBLE.format(now="%(now)s", only="AND j.id = %(only)s" if only else "")
    picked = _PG_PICKED.format(eligible=eligible, free_nodes=_FREE_NODES, limit=limit)
    return _PG_CLAIM.format(picked=picked)


@dataclasses.dataclass(frozen=True)
class Claimed:
    job: JobRecord
    node: NodeAddress | None


_types_cache: list[Any] = [None, None]  # [the registry's items, what _types made of them]


def _types() -> tuple[dict[str, dict[str, Any]], str]:
    """What the claim needs of each job type: its first step's progress line, and the
    status its environment (and site) holds while it runs; also as JSON, the claim's
    parameter. Rebuilt only when the registry changed (tests swap job types): comparing
    the items is a pointer comparison each while they are the same objects."""
    items = list(load_handlers().items())
    if _types_cache[0] != items:
        types = {
            name: {"progress": (f"step 1/{len(jt.steps)}: {jt.steps[0].title}"
                                if jt.steps else None),
                   "running": jt.running_status, "moves_site": jt.moves_site}
            for name, jt in items
        }
        _types_cache[:] = [items, (types, json.dumps(types))]
    return _types_cache[1]


def claim(rt: Runtime, worker_id: str, limit: int,
          only_job_id: str | None = None) -> list[Claimed]:
    """Start up to ``limit`` runnable jobs (oldest first) for ``worker_id``; fewer than
    ``limit`` means nothing else can start now. ``only_job_id``: that job or nothing."""
    if limit <= 0:
        return []
    types, types_json = _types()
    params: dict[str, Any] = {"now": rt.now(), "worker": worker_id, "types": types_json}
    if only_job_id:
        params["only"] = only_job_id
    db = rt.db
    dialect = dialect_of(db)
    sql = _statement(dialect, only_job_id is not None, limit)
    if dialect == "sqlite":
        with write_transaction(db):
            rows = db.execute_sql(sql, params).fetchall()
            _move_claimed(db, rows, types, params["now"])
    else:
        rows = _claim_postgresql(db, sql, params)
    width = len(RECORD_COLUMNS)
    rows.sort(key=lambda row: row[width])
    claimed = [Claimed(JobRecord(**dict(zip(RECORD_COLUMNS, row[:width], strict=True))),
                       _address(row[width + 1:]))
               for row in rows]
    for item in claimed:
        db.after_commit(functools.partial(BUS.publish, JobStateChanged(item.job.id, "running")))
    return claimed


def _address(columns: Any) -> NodeAddress | None:
    if len(columns) != len(NODE_COLUMNS) or columns[0] is None:
        return None
    return NodeAddress(*columns)


def _claim_postgresql(db: Any, sql: str, params: dict[str, Any]) -> list[Any]:
    for _ in range(PG_ATTEMPTS):
        try:
            # Inside a caller's transaction the statement gets a savepoint, so a lost race
            # does not abort the caller's work; on its own it commits by itself.
            if db.transaction_depth():
                with db.atomic():
                    return list(db.execute_sql(sql, params).fetchall())
            return list(db.execute_sql(sql, params).fetchall())
        except peewee.IntegrityError:
            continue  # another worker took one of these sites or nodes first
    log.warning("claim lost the race for a site or node %d times in a row; the jobs left "
                "are claimed at the next wake-up", PG_ATTEMPTS)
    return []


def _move_claimed(db: Any, rows: list[Any], types: dict[str, dict[str, Any]],
                  now: str) -> None:
    """SQLite's half of what PostgreSQL's claim statement does in its CTEs."""
    column = {name: index for index, name in enumerate(RECORD_COLUMNS)}
    for row in rows:
        job_type = types.get(row[column["job_type"]])
        if job_type and job_type["running"]:
            move_resources(db, row[column["environment_id"]], row[column["site_id"]],
                           job_type["running"], job_type["moves_site"], now)


def move_resources(db: Any, environment_id: str | None, site_id: str | None, status: str,
                   moves_site: bool, now: str) -> None:
    """Environment (and site) status follows the job; ``state_version`` is bumped so any
    edit prepared against the old state fails as a conflict."""
    mark = "?" if dialect_of(db) == "sqlite" else "%s"
    if environment_id:
        db.execute_sql(f"UPDATE environments SET status = {mark}, updated_at = {mark}, "
                       f"state_version = state_version + 1 WHERE id = {mark}",
                       [status, now, environment_id])
    if moves_site and site_id:
        db.execute_sql(f"UPDATE sites SET status = {mark}, updated_at = {mark}, "
                       f"state_version = state_version + 1 WHERE id = {mark}",
                       [status, now, site_id])
