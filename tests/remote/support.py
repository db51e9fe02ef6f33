"""Helpers for driving the asyncio client from plain (sync) tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import asyncssh

from pressluft_core.remote import ConnectionPool

T = TypeVar("T")
SCENARIO_TIMEOUT = 60.0  # a hung scenario fails instead of hanging the suite


def arun(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, SCENARIO_TIMEOUT)
    return asyncio.run(bounded())


class RecordingPool(ConnectionPool):
    """A pool that records the host keys it reports for first use."""

    def __init__(self, key: asyncssh.SSHKey, **kwargs: Any) -> None:
        self.new_host_keys: list[tuple[str, str]] = []
        super().__init__(key, lambda node, line: self.new_host_keys.append((node, line)),
                         **kwargs)


@contextlib.asynccontextmanager
async def open_pool(key: asyncssh.SSHKey, **kwargs: Any) -> AsyncIterator[RecordingPool]:
    pool = RecordingPool(key, **kwargs)
    try:
        yield pool
    finally:
        await pool.close()
