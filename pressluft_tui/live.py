"""Keeps the console current without the operator pressing anything.

Jobs run either in this process (the embedded worker) or in a ``pressluft worker``
daemon. In-process job events arrive at once through the core's job bus; a one-second
poll of a cheap database fingerprint catches everything else. Either way the app gets a
``DataChanged`` message and the visible screen reloads its rows in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pressluft_core.jobs.events import BUS, JobEnqueued, JobEvent, JobStateChanged
from pressluft_tui.messages import DataChanged, JobFailed

if TYPE_CHECKING:
    from pressluft_tui.app import PressluftApp

POLL_SECONDS = 1.0


class LiveUpdates:
    def __init__(self, app: PressluftApp) -> None:
        self.app = app
        self._fingerprint: tuple[object, ...] | None = None
        self._unsubscribe = BUS.subscribe(self._on_job_event)
        self._timer = app.set_interval(POLL_SECONDS, self._poll, name="live-poll")

    def _on_job_event(self, event: JobEvent) -> None:
        if isinstance(event, JobStateChanged | JobEnqueued):
            self.app.post_message(DataChanged(event.job_id))  # thread-safe
        if isinstance(event, JobStateChanged) and event.status == "failed":
            self.app.post_message(JobFailed(event.job_id))

    def _poll(self) -> None:
        fingerprint = self.app.core.overview.fingerprint()
        if self._fingerprint is not None and fingerprint != self._fingerprint:
            self.app.post_message(DataChanged())
        self._fingerprint = fingerprint

    def stop(self) -> None:
        self._unsubscribe()
        self._timer.stop()
