"""Time as the control plane sees it: UTC, ISO-8601 text with ``Z``, injectable for tests.

Every piece of time-dependent behaviour (session expiry, login throttling, retry backoff,
retention) asks a :class:`Clock` instead of the system, so tests move time forward instead
of sleeping.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; thread-safe so workers can share it."""

    def __init__(self, start: datetime | str = "2026-01-01T00:00:00Z") -> None:
        self._now = parse_iso(start) if isinstance(start, str) else start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, moment: datetime | str) -> None:
        with self._lock:
            self._now = parse_iso(moment) if isinstance(moment, str) else moment


def to_iso(moment: datetime) -> str:
    """Render a moment as the schema's timestamp text (second precision, UTC, ``Z``)."""
    return moment.astimezone(UTC).strftime(ISO_FORMAT)


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC)


_id_factory: Callable[[], uuid.UUID] = uuid.uuid4


def new_id() -> str:
    """A UUIDv4 as text: every primary key in the schema is one."""
    return str(_id_factory())


def use_id_factory(factory: Callable[[], uuid.UUID]) -> Callable[[], uuid.UUID]:
    """Swap the id source (tests make ids reproducible for snapshots); returns the old."""
    global _id_factory
    previous, _id_factory = _id_factory, factory
    return previous
