"""In-process job events: a worker in this process wakes at once when a job is enqueued
here, and the console hears about state changes and output without polling.

Subscribers are called on the publishing thread; a GUI subscriber must hop to its own
thread (the console does so with ``call_from_thread``). Other processes learn the same
facts from the database and the job log files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobEnqueued:
    job_id: str


@dataclass(frozen=True)
class JobStateChanged:
    job_id: str
    status: str
    progress: str | None = None


@dataclass(frozen=True)
class JobOutput:
    job_id: str
    lines: tuple[str, ...]


JobEvent = JobEnqueued | JobStateChanged | JobOutput
Subscriber = Callable[[JobEvent], None]


class JobBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(event)


BUS = JobBus()
