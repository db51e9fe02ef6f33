"""Keeps the console current without the operator pressing anything.

Jobs run either in this process (the embedded worker) or in a ``pressluft worker``
daemon. In-process job events arrive at once through the core's job bus; a one-second
poll of a cheap database fingerprint catches everything else. Either way the app gets a
``DataChanged`` message and the visible screen reloads its rows in place.

The poll reads the database in a thread worker, never on the UI thread: a slow disk or a
busy PostgreSQL must not freeze keys and redraws. A poll still under way when the next
tick comes is not doubled; the tick is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pressluft_core.jobs.events import BUS, JobEnqueued, JobEvent, JobStateChanged
from pressluft_tui.context import ConsoleContext
from pressluft_tui.messages import DataChanged, JobFailed

POLL_SECONDS = 1.0


class LiveUpdates:
    def __init__(self, app: ConsoleContext) -> None:
        self.app = app
        self._fingerprint: tuple[object, ...] | None = None
        self._unsubscribe: Any = None
        self._timer: Any = None
        self._poll_worker: Any = None

    def start(self, set_interval: Callable[..., Any]) -> None:
        """Listen to the job bus and start the poll (``set_interval``: the app's)."""
        self._unsubscribe = BUS.subscribe(self._on_job_event)
        self._timer = set_interval(POLL_SECONDS, self._poll, name="live-poll")

    def _on_job_event(self, event: JobEvent) -> None:
        if isinstance(event, JobStateChanged | JobEnqueued):
            self.app.post_message(DataChanged(event.job_id))  # thread-safe
        if isinstance(event, JobStateChanged) and event.status == "failed":
            self.app.post_message(JobFailed(event.job_id))

    def _poll(self) -> None:
        if self._poll_worker is not None and not self._poll_worker.is_finished:
            return
        self._poll_worker = self.app.run_worker(self._read, name="live-poll",
                                                group="live-poll", thread=True,
                                                exit_on_error=False)

    def _read(self) -> None:
        """In the worker thread: post ``DataChanged`` only when the fingerprint moved."""
        fingerprint = self.app.core.overview.fingerprint()
        if self._fingerprint is not None and fingerprint != self._fingerprint:
            self.app.post_message(DataChanged())  # thread-safe
        self._fingerprint = fingerprint

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._timer is not None:
            self._timer.stop()
