"""The queue's state machine on the ``jobs`` table (DESIGN.md §4).

Every transition is one transaction that also moves the job's environment (and site) and
only applies if the job is still in the state the caller saw, so a cancelled job or a job
whose lease another worker took back is never overwritten by a late finisher.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pressluft_core.clock import to_iso
from pressluft_core.db import dialect_of, write_transaction
from pressluft_core.jobs.claim import RECORD_COLUMNS, claim, move_resources
from pressluft_core.jobs.events import BUS, JobStateChanged
from pressluft_core.jobs.registry import load_handlers
from pressluft_core.jobs.retry import DEFAULT_RETRY
from pressluft_core.models import Job
from pressluft_core.records import JobRecord, from_row
from pressluft_core.services.base import Runtime

MAX_ERROR_TAIL_BYTES = 10 * 1024


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_next(rt: Runtime, worker_id: str, only_job_id: str | None = None) -> JobRecord | None:
    """Start the oldest runnable job (or ``only_job_id``); None when nothing can start.
    The worker claims several at once with :func:`pressluft_core.jobs.claim.claim`."""
    claimed = claim(rt, worker_id, 1, only_job_id)
    return claimed[0].job if claimed else None


_SELECT_RECORD = f"SELECT {', '.join(RECORD_COLUMNS)} FROM jobs WHERE id = ?"


def fetch_record(db: Any, job_id: str) -> JobRecord:
    row = db.execute_sql(_sql(db, _SELECT_RECORD), [job_id]).fetchone()
    return JobRecord(**dict(zip(RECORD_COLUMNS, row, strict=True)))


def _sql(db: Any, text: str) -> str:
    return text if dialect_of(db) == "sqlite" else text.replace("?", "%s")


def _moves(job_type_name: str) -> tuple[str, bool] | None:
    """The status a job of this type holds its environment (and site) in, if any."""
    job_type = load_handlers().get(job_type_name)
    if job_type is None or not job_type.running_status:
        return None
    return job_type.running_status, job_type.moves_site


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
    """``progress``: the last step line, if it was not written yet. A job that moved no
    environment finishes with one statement, which is its own transaction."""
    now = rt.now()
    db = rt.db
    moves = _moves(job.job_type)
    params = [now, now, progress, job.id, worker_id]
    if moves is None:
        updated = db.execute_sql(_sql(db, _SUCCEED), params).rowcount
    else:
        with write_transaction(db):
            updated = db.execute_sql(_sql(db, _SUCCEED), params).rowcount
            if updated:
                move_resources(db, job.environment_id, job.site_id, "active", moves[1], now)
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
                move_resources(rt.db, job.environment_id, job.site_id,
                               "active" if rolled_back else "failed", job_type.moves_site,
                               now)
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

