"""The queue's state machine on the ``jobs`` table (DESIGN.md §4).

Every transition is one transaction that also moves the job's environment (and site) and
only applies if the job is still in the state the caller saw, so a cancelled job or a job
whose lease another worker took back is never overwritten by a late finisher.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pressluft_core.clock import to_iso
from pressluft_core.db import dialect_of, write_transaction
from pressluft_core.jobs.events import BUS, JobStateChanged
from pressluft_core.jobs.registry import load_handlers
from pressluft_core.jobs.retry import DEFAULT_RETRY
from pressluft_core.models import Environment, Job, Site
from pressluft_core.records import JobRecord, from_row
from pressluft_core.services.base import Runtime

MAX_ERROR_TAIL_BYTES = 10 * 1024


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_CLAIMABLE = """
SELECT j.id, j.job_type, j.site_id, j.node_id FROM jobs j
WHERE j.status = 'queued' AND (j.run_after IS NULL OR j.run_after <= ?) {only}
  AND (j.node_id IS NULL OR j.node_id NOT IN (
       SELECT r.node_id FROM jobs r WHERE r.status = 'running' AND r.node_id IS NOT NULL))
  AND (j.site_id IS NULL OR j.site_id NOT IN (
       SELECT r.site_id FROM jobs r WHERE r.status = 'running' AND r.site_id IS NOT NULL))
  AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.status = 'queued' AND e.site_id = j.site_id
                  AND e.queue_seq < j.queue_seq)
ORDER BY j.queue_seq LIMIT {limit} {lock}
"""
# The busy sets are uncorrelated subqueries, computed once per claim rather than per
# candidate row; only candidates on a free site and node pay for the FIFO check.

_STILL_FREE = """
SELECT NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running'
                   AND ((r.site_id = ?) OR (r.node_id = ?)))
"""


def _sql(db: Any, text: str) -> str:
    return text if dialect_of(db) == "sqlite" else text.replace("?", "%s")


def claim_next(rt: Runtime, worker_id: str, only_job_id: str | None = None) -> JobRecord | None:
    """Atomically take the oldest runnable job whose site and node are both free.

    SQLite: one ``BEGIN IMMEDIATE`` transaction, so claims are serialised. PostgreSQL:
    candidates are row-locked with ``SKIP LOCKED``; a transaction-scoped advisory lock on
    the site and on the node, then a fresh read, make sure no other worker is starting a
    job of the same site or node at the same moment.
    """
    now = rt.now()
    only = "AND j.id = ?" if only_job_id else ""
    params: list[Any] = [now] + ([only_job_id] if only_job_id else [])
    db = rt.db
    if dialect_of(db) == "sqlite":
        with write_transaction(db):
            row = db.execute_sql(_sql(db, _CLAIMABLE.format(only=only, limit=1, lock="")),
                                 params).fetchone()
            return _start(rt, row[0], row[1], worker_id, now) if row else None
    with db.atomic():
        sql = _CLAIMABLE.format(only=only, limit=16, lock="FOR UPDATE OF j SKIP LOCKED")
        for job_id, job_type, site_id, node_id in db.execute_sql(_sql(db, sql),
                                                                  params).fetchall():
            keys = [f"site:{site_id}"] if site_id else []
            keys += [f"node:{node_id}"] if node_id else []
            locks = ", ".join(["pg_try_advisory_xact_lock(hashtext(%s))"] * len(keys))
            if keys and not all(db.execute_sql(f"SELECT {locks}", keys).fetchone()):
                continue
            # A separate statement: its snapshot is taken after the locks were granted,
            # so it sees a claim another worker committed while we waited for them.
            free = db.execute_sql(_sql(db, _STILL_FREE), [site_id, node_id]).fetchone()
            if free[0]:
                return _start(rt, job_id, job_type, worker_id, now)
    return None


# The claim/progress/finish statements run for every job: plain SQL keeps the runner's
# own overhead small next to the work (see bench/jobs.py).
_RECORD_COLUMNS = [f.name for f in dataclasses.fields(JobRecord)]
_START = f"""
UPDATE jobs SET status = 'running', locked_at = ?, locked_by = ?, started_at = ?,
  finished_at = NULL, attempt_count = attempt_count + 1, updated_at = ?, progress = ?
WHERE id = ?
RETURNING {', '.join(_RECORD_COLUMNS)}
"""
_SELECT_RECORD = f"SELECT {', '.join(_RECORD_COLUMNS)} FROM jobs WHERE id = ?"


def fetch_record(db: Any, job_id: str) -> JobRecord:
    row = db.execute_sql(_sql(db, _SELECT_RECORD), [job_id]).fetchone()
    return JobRecord(**dict(zip(_RECORD_COLUMNS, row, strict=True)))


def first_step_progress(job_type_name: str) -> str | None:
    job_type = load_handlers().get(job_type_name)
    if job_type is None or not job_type.steps:
        return None
    return f"step 1/{len(job_type.steps)}: {job_type.steps[0].title}"


def _start(rt: Runtime, job_id: str, job_type_name: str, worker_id: str,
           now: str) -> JobRecord:
    """The claim also records the first step's progress: one write fewer per job."""
    db = rt.db
    row = db.execute_sql(_sql(db, _START), [now, worker_id, now, now,
                                            first_step_progress(job_type_name),
                                            job_id]).fetchone()
    record = JobRecord(**dict(zip(_RECORD_COLUMNS, row, strict=True)))
    job_type = load_handlers().get(record.job_type)
    if job_type and job_type.running_status:
        _move_resources(record, job_type.running_status, job_type.moves_site, now)
    db.after_commit(lambda: BUS.publish(JobStateChanged(job_id, "running")))
    return record


def _move_resources(job: Job | JobRecord, status: str, moves_site: bool, now: str) -> None:
    """Environment (and site) status follows the job; ``state_version`` is bumped so any
    edit prepared against the old state fails as a conflict."""
    if job.environment_id:
        Environment.update(status=status, updated_at=now,
                           state_version=Environment.state_version + 1).where(
            Environment.id == job.environment_id).execute()
    if moves_site and job.site_id:
        Site.update(status=status, updated_at=now, state_version=Site.state_version + 1).where(
            Site.id == job.site_id).execute()


def heartbeat(rt: Runtime, worker_id: str, job_ids: Sequence[str]) -> set[str]:
    """Refresh the lease of our running jobs; returns the ids no longer ours to run
    (cancelled, or taken back after a lease we failed to renew)."""
    if not job_ids:
        return set()
    now = rt.now()
    with write_transaction(rt.db):
        Job.update(locked_at=now).where(
            Job.id.in_(list(job_ids)) & (Job.status == "running") & (Job.locked_by == worker_id)
        ).execute()
        still_ours = {
            j.id for j in Job.select(Job.id).where(
                Job.id.in_(list(job_ids)) & (Job.status == "running")
                & (Job.locked_by == worker_id))
        }
    return set(job_ids) - still_ours


_PROGRESS = """
UPDATE jobs SET progress = ?, updated_at = ?
WHERE id = ? AND status = 'running' AND locked_by = ?
"""
_SUCCEED = """
UPDATE jobs SET status = 'succeeded', finished_at = ?, updated_at = ?, error_code = NULL,
  error_message = NULL, progress = COALESCE(?, progress)
WHERE id = ? AND status = 'running' AND locked_by = ?
"""


def set_progress(rt: Runtime, job_id: str, worker_id: str, progress: str) -> None:
    db = rt.db
    with write_transaction(db):
        db.execute_sql(_sql(db, _PROGRESS), [progress, rt.now(), job_id, worker_id])


def succeed(rt: Runtime, job: JobRecord, worker_id: str, progress: str | None = None) -> bool:
    """``progress``: the last step line, if it was not written yet."""
    now = rt.now()
    db = rt.db
    with write_transaction(db):
        updated = db.execute_sql(_sql(db, _SUCCEED),
                                 [now, now, progress, job.id, worker_id]).rowcount
        job_type = load_handlers().get(job.job_type)
        if updated and job_type and job_type.running_status:
            _move_resources(job, "active", job_type.moves_site, now)
    if updated:
        BUS.publish(JobStateChanged(job.id, "succeeded"))
    return bool(updated)


def fail(rt: Runtime, job: JobRecord, worker_id: str, code: str, message: str,
         output_tail: str = "", *, rolled_back: bool = False) -> str | None:
    """Record a failed attempt: re-queued with backoff when the retry strategy says so,
    else ``failed``. Returns the new status, or None if the job was no longer ours.
    ``rolled_back``: the job undid its change, so its resources go back to ``active``."""
    now_dt = rt.clock.now()
    now = to_iso(now_dt)
    job_type = load_handlers().get(job.job_type)
    decision = (job_type.retry if job_type else DEFAULT_RETRY).decide(
        code, job.attempt_count, job.max_attempts, now_dt)
    text = error_text(message, output_tail)
    with write_transaction(rt.db):
        mine = (Job.id == job.id) & (Job.status == "running") & (Job.locked_by == worker_id)
        if decision.retry:
            status = "queued"
            updated = Job.update(status=status, run_after=to_iso(decision.run_after),
                                 error_code=code, error_message=text, updated_at=now).where(
                mine).execute()
        else:
            status = "failed"
            updated = Job.update(status=status, finished_at=now, error_code=code,
                                 error_message=text, updated_at=now).where(mine).execute()
            if updated and job_type and job_type.running_status:
                _move_resources(Job.get_by_id(job.id), "active" if rolled_back else "failed",
                                job_type.moves_site, now)
    if not updated:
        return None
    BUS.publish(JobStateChanged(job.id, status))
    return status


def recover_expired(rt: Runtime, lease_seconds: float) -> list[str]:
    """Take back running jobs whose worker stopped renewing the lease (crash, kill -9)."""
    now_dt = rt.clock.now()
    cutoff = to_iso(now_dt - timedelta(seconds=lease_seconds))
    taken: list[str] = []
    for job in Job.select().where((Job.status == "running") & (Job.locked_at < cutoff)):
        record = from_row(JobRecord, job)
        message = (f"worker {job.locked_by} stopped renewing its lease (last at "
                   f"{job.locked_at}); the job was taken back")
        if fail(rt, record, job.locked_by, "WORKER_LOST", message) is not None:
            taken.append(job.id)
    return taken


def requeue_interrupted(rt: Runtime, job: JobRecord, worker_id: str) -> bool:
    """A worker shutting down gives its job back untouched: the attempt does not count,
    since every job is safe to re-run from the start."""
    now = rt.now()
    with write_transaction(rt.db):
        updated = Job.update(status="queued", run_after=now, updated_at=now,
                             attempt_count=Job.attempt_count - 1, progress=None).where(
            (Job.id == job.id) & (Job.status == "running") & (Job.locked_by == worker_id)
        ).execute()
    if updated:
        BUS.publish(JobStateChanged(job.id, "queued"))
    return bool(updated)


def error_text(message: str, output_tail: str) -> str:
    tail = output_tail.encode()[-MAX_ERROR_TAIL_BYTES:].decode(errors="ignore")
    return f"{message}\n--- last output ---\n{tail}" if tail.strip() else message

