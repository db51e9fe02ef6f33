"""Remote execution on nodes over SSH (asyncssh): connections, the node agent, keys.

See ``connection.py`` for the entry point (:class:`ConnectionPool`) and ``node_agent.py``
for the protocol the node side speaks.
"""

from __future__ import annotations

from pressluft_core.remote.connection import ConnectionPool
from pressluft_core.remote.errors import (
    AuthenticationFailed,
    ConnectionLost,
    HostKeyChanged,
    HostUnreachable,
    RemoteCancelled,
    RemoteError,
    RemoteTimeout,
)
from pressluft_core.remote.keys import ensure_control_key, fingerprint, public_key_line
from pressluft_core.remote.session import NodeSession, NodeTarget, OutputCallback, RunResult

__all__ = [
    "AuthenticationFailed",
    "ConnectionLost",
    "ConnectionPool",
    "HostKeyChanged",
    "HostUnreachable",
    "NodeSession",
    "NodeTarget",
    "OutputCallback",
    "RemoteCancelled",
    "RemoteError",
    "RemoteTimeout",
    "RunResult",
    "ensure_control_key",
    "fingerprint",
    "public_key_line",
]
