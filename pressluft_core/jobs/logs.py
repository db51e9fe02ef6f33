"""Job output: one file per job (``logs/jobs/<id>.log``) plus in-process subscribers.

The file is the source of truth for anyone outside the worker's process (the console
tailing a daemon's job, ``pressluft jobs follow``); lines are flushed as they come.
Every line passes the redactor first, so a secret a step used never reaches disk,
subscribers or ``jobs.error_message``.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from pressluft_core.clock import Clock, to_iso
from pressluft_core.jobs.events import BUS, JobOutput

REDACTED = "********"
TAIL_LINES = 400


class Redactor:
    """Replaces every registered secret value (longest first) with ``********``."""

    def __init__(self) -> None:
        self._values: list[str] = []

    def add(self, value: str) -> None:
        for candidate in {value, *value.splitlines()}:
            if len(candidate) >= 4 and candidate not in self._values:
                self._values.append(candidate)
        self._values.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


class JobLog:
    def __init__(self, path: Path, job_id: str, clock: Clock, redact: Redactor) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.job_id = job_id
        self._clock = clock
        self._redact = redact
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.write_error: OSError | None = None
        try:
            self._file: TextIO | None = path.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            self._file, self.write_error = None, exc

    def write(self, tag: str, text: str) -> None:
        """``tag``: ``out``/``err`` for command output, ``step`` for progress markers,
        ``info`` for the runner's own remarks."""
        lines = []
        for raw in (text.splitlines() or [""]):
            clean = self._redact(raw.replace("\r", ""))
            self._tail.append(clean)
            lines.append(f"{to_iso(self._clock.now())} {tag:<4} {clean}")
        self._write_file("\n".join(lines) + "\n")
        BUS.publish(JobOutput(self.job_id, tuple(lines)))

    def _write_file(self, text: str) -> None:
        """A full disk on the control plane must not take the job down with it: the job
        goes on (or fails for its own reasons) and says that its log is incomplete."""
        if self._file is None:
            return
        try:
            self._file.write(text)
        except OSError as exc:
            self.write_error = exc
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    @property
    def problem(self) -> str | None:
        if self.write_error is None:
            return None
        return (f"the job log {self.path} could not be written "
                f"({self.write_error.strerror or self.write_error}); output is incomplete")

    def tail(self) -> str:
        return "\n".join(self._tail)

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()


def log_path(job_logs_dir: Path, job_id: str) -> Path:
    return job_logs_dir / f"{job_id}.log"


def follow(path: Path, is_finished: Callable[[], bool], poll_seconds: float = 0.2,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[str]:
    """Yield the log's lines from the start, then new ones as they are written, until the
    job is finished and everything written has been read."""
    position = 0
    pending = ""
    while True:
        finished = is_finished()  # read before draining, so nothing written after is lost
        if path.exists():
            with path.open("r", encoding="utf-8", errors="replace") as handle:
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
            pending += chunk
            *complete, pending = pending.split("\n")
            yield from complete
        if finished:
            if pending:
                yield pending
            return
        sleep(poll_seconds)
