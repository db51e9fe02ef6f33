"""A job's log, live: tails ``logs/jobs/<id>.log`` ten times a second and writes what is
new in one batch.

Tailing the file works the same whether the job runs in this process or in a worker
daemon; batching and ``max_lines`` keep the console responsive however fast a job
prints.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Log

MAX_LINES = 5_000
TAIL_INTERVAL = 0.1
MAX_READ_BYTES = 1024 * 1024


class JobLogView(Log):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=MAX_LINES, highlight=False, auto_scroll=True, id=id)
        self._path: Path | None = None
        self._position = 0
        self._pending = ""
        self.received = 0  # lines read from the file since it was shown

    def on_mount(self) -> None:
        self.set_interval(TAIL_INTERVAL, self.poll_file, name="job-log-tail")

    def show(self, path: Path | None) -> None:
        """Start showing another job's log from its beginning (``None``: nothing)."""
        if path == self._path:
            return
        self._path = path
        self._position = 0
        self._pending = ""
        self.received = 0
        self.clear()
        self.poll_file()

    def poll_file(self) -> int:
        """Append whatever was written since the last look; returns lines added."""
        if self._path is None:
            return 0
        try:
            with self._path.open("rb") as handle:
                size = handle.seek(0, 2)
                if size < self._position:  # the file was replaced: start over
                    self._position = 0
                    self.clear()
                handle.seek(self._position)
                # At most this much per tick: a job that printed megabytes while nobody
                # looked is caught up over a few ticks instead of one long stall.
                chunk = handle.read(MAX_READ_BYTES)
                self._position = handle.tell()
        except FileNotFoundError:
            return 0
        if not chunk:
            return 0
        text = self._pending + chunk.decode("utf-8", errors="replace")
        *lines, self._pending = text.split("\n")
        if lines:
            self.received += len(lines)
            self.write_lines(lines[-MAX_LINES:])
        return len(lines)
