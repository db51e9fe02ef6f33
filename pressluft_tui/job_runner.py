"""Who runs the jobs while the console is open: a ``pressluft worker`` daemon if one is
alive, else this console's embedded worker (unless the app was told not to, as in tests).
The answer becomes the app's subtitle, so the operator knows whether quitting stops jobs.
"""

from __future__ import annotations

from pressluft_core.app import Pressluft
from pressluft_core.jobs.embedded import EmbeddedWorker


class JobRunner:
    def __init__(self, core: Pressluft, *, embed: bool) -> None:
        self._core = core
        self._embed = embed
        self._embedded: EmbeddedWorker | None = None

    def start(self) -> str:
        """Starts the embedded worker when no daemon runs; says who runs the jobs."""
        daemons = self._core.overview.worker_mode().daemon_ids
        if daemons:
            return f"jobs run by the worker daemon {daemons[0]}"
        if self._embed and self._embedded is None:
            self._embedded = EmbeddedWorker(self._core.rt)
            self._embedded.start()
            return "jobs run in this console (they stop when it quits)"
        return "no worker running: start `pressluft worker`"

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
