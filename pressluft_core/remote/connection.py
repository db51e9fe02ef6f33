"""One reused SSH connection per node, reconnecting when it is gone.

A :class:`ConnectionPool` belongs to the event loop it is used on. ``session()`` returns the
live :class:`NodeSession` of a node or opens a new one: after a connection loss the next
call reconnects, so a retried job simply asks again. Host keys are trusted on first use:
the key is handed to ``on_new_host_key`` to be recorded with the node, and remembered by
the pool, so a reconnect can never silently accept a different key even if the caller
passes a stale target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncssh

from pressluft_core.remote.session import (
    NodeSession,
    NodeTarget,
    OutputCallback,
    RunResult,
)
from pressluft_core.remote.transport import connect

__all__ = ["ConnectionPool", "NodeSession", "NodeTarget", "OutputCallback", "RunResult"]


class ConnectionPool:
    def __init__(self, client_key: asyncssh.SSHKey, on_new_host_key: Callable[[str, str], None],
                 connect_timeout: float = 10.0, *, use_agent: bool = True) -> None:
        """``use_agent=False`` forces one SSH exec per command (tests and benchmarks of the
        fallback path); normally the node agent is used wherever python3 runs."""
        self._client_key = client_key
        self._on_new_host_key = on_new_host_key
        self._connect_timeout = connect_timeout
        self._use_agent = use_agent
        self._sessions: dict[str, NodeSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._learned: dict[str, str] = {}

    async def session(self, target: NodeTarget) -> NodeSession:
        """The node's live session, connecting (or reconnecting) when there is none."""
        async with self._locks.setdefault(target.node_id, asyncio.Lock()):
            current = self._sessions.get(target.node_id)
            expected = _canonical(target.known_host_key) or self._learned.get(target.node_id)
            if (current is not None and not current.closed
                    and _endpoint(current.target) == _endpoint(target)
                    and expected in (None, current.host_key)):
                return current
            if current is not None:
                del self._sessions[target.node_id]
                await current.close()
            connected = await connect(target.label, target.host, target.port, target.user,
                                      self._client_key, expected, self._connect_timeout)
            if expected is None:
                try:
                    self._on_new_host_key(target.node_id, connected.host_key)
                except BaseException:
                    connected.conn.close()
                    raise
                self._learned[target.node_id] = connected.host_key
            session = NodeSession(connected, target, use_agent=self._use_agent,
                                  start_timeout=self._connect_timeout)
            self._sessions[target.node_id] = session
            return session

    async def disconnect(self, node_id: str) -> None:
        """Close the node's connection (its agent kills what still runs there)."""
        session = self._sessions.pop(node_id, None)
        if session is not None:
            await session.close()

    async def forget_host_key(self, node_id: str) -> None:
        """Drop the host key this pool learned for the node, and its connection: call it
        together with clearing the node's recorded key when the operator accepts a change."""
        self._learned.pop(node_id, None)
        await self.disconnect(node_id)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


def _canonical(line: str | None) -> str | None:
    return " ".join(line.split()[:2]) if line else None


def _endpoint(target: NodeTarget) -> tuple[str, int, str]:
    return (target.host, target.port, target.user)
