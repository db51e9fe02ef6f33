"""The console's worker: the same :class:`Worker` on its own thread and event loop."""

from __future__ import annotations

import asyncio
import threading

from pressluft_core.jobs.worker import Worker, WorkerSettings
from pressluft_core.services.base import Runtime


class EmbeddedWorker:
    """A worker on its own thread and event loop, so the console's loop never waits on
    the database or a node."""

    def __init__(self, rt: Runtime, settings: WorkerSettings | None = None) -> None:
        self.worker = Worker(rt, settings, mode="embedded")
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="pressluft-worker",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _main(self) -> None:
        async def body() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self.worker.run(self._stop)

        asyncio.run(body())

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
