"""Worker presence: each worker announces itself and refreshes its row with every
heartbeat; a clean stop removes it. A row not refreshed for a few heartbeats belongs to
a worker that died."""

from __future__ import annotations

from datetime import timedelta

from pressluft_core.clock import to_iso
from pressluft_core.db import write_transaction
from pressluft_core.models import WorkerPresence
from pressluft_core.services.base import Runtime

MODES = ("daemon", "embedded", "cli")
ALIVE_WINDOW = timedelta(seconds=90)


def announce(rt: Runtime, worker_id: str, mode: str) -> None:
    now = rt.now()
    with write_transaction(rt.db):
        (WorkerPresence.insert(id=worker_id, mode=mode, started_at=now, last_seen_at=now)
         .on_conflict(conflict_target=[WorkerPresence.id],
                      update={WorkerPresence.mode: mode, WorkerPresence.started_at: now,
                              WorkerPresence.last_seen_at: now})
         .execute())


def refresh(rt: Runtime, worker_id: str) -> None:
    with write_transaction(rt.db):
        WorkerPresence.update(last_seen_at=rt.now()).where(
            WorkerPresence.id == worker_id).execute()


def retire(rt: Runtime, worker_id: str) -> None:
    with write_transaction(rt.db):
        WorkerPresence.delete().where(WorkerPresence.id == worker_id).execute()


def live_daemons(rt: Runtime) -> list[str]:
    cutoff = to_iso(rt.clock.now() - ALIVE_WINDOW)
    return [w.id for w in WorkerPresence.select(WorkerPresence.id).where(
        (WorkerPresence.mode == "daemon") & (WorkerPresence.last_seen_at >= cutoff))]
