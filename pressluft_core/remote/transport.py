"""Opening one SSH connection to a node: key-only auth and trust-on-first-use host keys,
with every way it can fail mapped to an error that says whether a retry can help.

Host key checking goes through asyncssh's own known-hosts machinery (so the recorded key's
algorithm is the one negotiated, and a server offering several host key types is not
mistaken for a changed one); the client object only remembers what the server offered,
to name both fingerprints when the check fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh

from pressluft_core.remote.errors import (
    AuthenticationFailed,
    HostKeyChanged,
    HostUnreachable,
    RemoteError,
)
from pressluft_core.remote.keys import fingerprint, key_line

KEEPALIVE_INTERVAL = 15.0  # a silently dead node is noticed within ~1 min (3 keepalives)
# Bulk data (backups, restores, moves) passes through here in Python. asyncssh builds two
# ChaCha20 cipher objects per packet, AES-GCM is one call into OpenSSL (AES-NI): preferring
# it cut the control plane's CPU for a 700 MB move from 10.5 s to 8.7 s
# (`python -m bench fleet`: move_control_plane_cpu_s). Every OpenSSH since 6.2 offers it;
# chacha20 stays the fallback.
ENCRYPTION_ALGS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                   "chacha20-poly1305@openssh.com", "aes256-ctr", "aes192-ctr", "aes128-ctr"]


class _Client(asyncssh.SSHClient):
    """Records the offered host key and the moment the connection goes away."""

    def __init__(self, expected: asyncssh.SSHKey | None) -> None:
        self.expected = expected
        self.offered: asyncssh.SSHKey | None = None
        self.lost = False

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        # Only reached for keys not in the trusted list: a mismatch, or first use.
        self.offered = key
        return self.expected is None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


@dataclass
class Connected:
    conn: asyncssh.SSHClientConnection
    client: _Client
    host_key: str  # canonical OpenSSH line of the key the server proved it holds


async def connect(node_id: str, host: str, port: int, user: str, client_key: asyncssh.SSHKey,
                  known_host_key: str | None, connect_timeout: float) -> Connected:
    """Connect and authenticate, or raise a :class:`RemoteError` subclass. ``node_id``
    names the node in those errors (its name where the caller knows it)."""
    expected = _parse_known(node_id, known_host_key)
    client = _Client(expected)
    options: dict[str, object] = {}
    if expected is not None:
        options["server_host_key_algs"] = [alg.decode() for alg in expected.sig_algorithms]
    where = f"node {node_id} ({host}:{port})"
    try:
        conn, _ = await asyncssh.create_connection(
            lambda: client, host, port,
            username=user,
            client_keys=[client_key],
            known_hosts=([expected] if expected is not None else [], [], []),
            agent_path=None,
            config=[],
            preferred_auth=["publickey"],
            connect_timeout=connect_timeout,
            keepalive_interval=KEEPALIVE_INTERVAL,
            encryption_algs=ENCRYPTION_ALGS,
            **options,
        )
    except asyncssh.HostKeyNotVerifiable:
        assert expected is not None  # first use accepts whatever is offered
        offered = client.offered
        raise HostKeyChanged(
            node_id, host, port, fingerprint(expected),
            fingerprint(offered) if offered else "(none of the recorded type)",
            key_line(offered) if offered else None) from None
    except asyncssh.KeyExchangeFailed as exc:
        if expected is not None and "host key" in str(exc).lower():
            raise HostKeyChanged(node_id, host, port, fingerprint(expected),
                                 f"(no {expected.algorithm.decode()} key offered)") from None
        raise HostUnreachable(f"{where}: SSH key exchange failed: {exc}") from None
    except asyncssh.PermissionDenied:
        raise AuthenticationFailed(
            f"{where} refused the control plane's SSH key for user {user!r}: install the "
            f"public key shown by `pressluft node key` in ~{user}/.ssh/authorized_keys on "
            "the node") from None
    except TimeoutError:
        raise HostUnreachable(f"{where}: no SSH answer within {connect_timeout:g} s: check "
                              "that the node is up, that the address and port are right and "
                              "that its firewall lets SSH in") from None
    except OSError as exc:
        raise HostUnreachable(f"{where} is unreachable: {exc.strerror or exc}: check that the "
                              "node is up and that sshd listens on that port") from None
    except asyncssh.Error as exc:
        raise HostUnreachable(f"{where}: SSH connection failed: {exc.reason}") from None
    server_key = conn.get_server_host_key()
    assert server_key is not None
    return Connected(conn, client, key_line(server_key))


def _parse_known(node_id: str, line: str | None) -> asyncssh.SSHKey | None:
    if not line:
        return None
    try:
        return asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError):
        raise RemoteError(
            f"node {node_id}: the recorded host key is not a valid OpenSSH public key line; "
            "clear it so the next connection records the node's key again") from None
