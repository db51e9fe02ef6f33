"""Periodic jobs, enqueued exactly once per period however many workers tick.

Each (name, period) pair gets one ``job_schedules`` row, inserted in the same transaction
as its job; the primary key makes a second worker's insert a no-op, and its transaction
(with its job) is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pressluft_core.clock import to_iso
from pressluft_core.db import write_transaction
from pressluft_core.models import JobSchedule
from pressluft_core.services.base import Runtime
from pressluft_core.services.jobs import enqueue


def daily(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def hourly(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    job_type: str
    period: Callable[[datetime], str]
    payload: Callable[[], dict[str, Any]] = field(default=dict)
    due: Callable[[datetime], bool] = field(default=lambda _moment: True)


PERIODIC: list[PeriodicJob] = []


def periodic(job: PeriodicJob) -> PeriodicJob:
    """Register a periodic job (handler modules call this next to their job type)."""
    if any(existing.name == job.name for existing in PERIODIC):
        raise ValueError(f"periodic job {job.name!r} is registered twice")
    PERIODIC.append(job)
    return job


class _AlreadyScheduled(Exception):
    pass


class Scheduler:
    def __init__(self, rt: Runtime, jobs: list[PeriodicJob] | None = None) -> None:
        self.rt = rt
        self.jobs = PERIODIC if jobs is None else jobs
        self._seen: set[tuple[str, str]] = set()

    def tick(self) -> list[str]:
        """Enqueue whatever is due in the current period; returns the new job ids."""
        now = self.rt.clock.now()
        created = []
        for job in self.jobs:
            key = (job.name, job.period(now))
            if key in self._seen or not job.due(now):
                continue
            job_id = self._enqueue_once(job, key[1])
            self._seen.add(key)
            if job_id:
                created.append(job_id)
        return created

    def _enqueue_once(self, job: PeriodicJob, period_key: str) -> str | None:
        exists = JobSchedule.select().where(
            (JobSchedule.name == job.name) & (JobSchedule.period_key == period_key)).exists()
        if exists:
            return None
        try:
            with write_transaction(self.rt.db):
                record = enqueue(self.rt, job.job_type, payload=job.payload())
                (JobSchedule.insert(name=job.name, period_key=period_key,
                                               job_id=record.id, created_at=to_iso(
                                                   self.rt.clock.now()))
                            .on_conflict_ignore().execute())
                owner = JobSchedule.get((JobSchedule.name == job.name)
                                        & (JobSchedule.period_key == period_key))
                if owner.job_id != record.id:
                    raise _AlreadyScheduled
                return record.id
        except _AlreadyScheduled:
            return None
