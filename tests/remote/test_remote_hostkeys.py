"""Connecting: trust on first use, a changed host key refused, key-only auth, and the
errors the job layer retries (or not)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import asyncssh
import pytest

from pressluft_core.remote import (
    AuthenticationFailed,
    ConnectionLost,
    HostKeyChanged,
    HostUnreachable,
    NodeTarget,
    RemoteError,
    fingerprint,
)
from tests.remote.support import arun, open_pool
from tests.sshserver import SSHTestServer


def test_first_use_records_the_host_key_and_later_connections_check_it(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey) -> None:
    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(ssh_server.target("n1"))
            first = (pool.new_host_keys, session.host_key)
        async with open_pool(control_key) as pool:
            recorded = ssh_server.target("n1", known_host_key=first[1] + " comment ignored")
            session = await pool.session(recorded)
            result = await session.run(["echo", "ok"])
            return first, pool.new_host_keys, result

    (reported, seen_key), reported_again, result = arun(scenario())
    assert reported == [("n1", ssh_server.host_key_line)]
    assert seen_key == ssh_server.host_key_line
    assert reported_again == []
    assert result.output_tail == "ok"


def test_changed_host_key_is_refused_with_both_fingerprints(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey) -> None:
    old_line = ssh_server.host_key_line
    ssh_server.restart(new_host_key=True)
    ssh_server.commands.clear()

    async def scenario():
        async with open_pool(control_key) as pool:
            with pytest.raises(HostKeyChanged) as caught:
                await pool.session(ssh_server.target("n1", known_host_key=old_line))
            return caught.value, pool.new_host_keys

    error, reported = arun(scenario())
    message = str(error)
    assert f"node n1 (127.0.0.1:{ssh_server.port})" in message
    assert fingerprint(old_line) in message
    assert fingerprint(ssh_server.host_key_line) in message
    assert "pressluft node forget-host-key" in message
    assert error.retryable is False
    assert error.offered_key == ssh_server.host_key_line
    assert reported == []
    assert ssh_server.commands == []  # nothing ran on the impostor


def test_pool_remembers_a_learned_key_across_reconnects(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey) -> None:
    # The caller keeps passing a target without a recorded key (say, it did not reload the
    # node row): the reconnect after a drop still must not trust a new key.
    async def scenario():
        async with open_pool(control_key) as pool:
            target = ssh_server.target("n1")
            session = await pool.session(target)
            await session.run(["true"])
            ssh_server.restart(new_host_key=True)
            with pytest.raises(ConnectionLost):
                await session.run(["true"])
            with pytest.raises(HostKeyChanged):
                await pool.session(target)
            await pool.forget_host_key("n1")  # the operator accepted the change
            session = await pool.session(target)
            return pool.new_host_keys, session.host_key

    reported, accepted = arun(scenario())
    assert [key for _node, key in reported][-1] == accepted == ssh_server.host_key_line
    assert len(reported) == 2


def test_unknown_client_key_fails_authentication_without_retry(
        ssh_server: SSHTestServer) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")

    async def scenario():
        async with open_pool(stranger) as pool:
            with pytest.raises(AuthenticationFailed) as caught:
                await pool.session(ssh_server.target("n1", user="deploy"))
            return caught.value

    error = arun(scenario())
    assert error.retryable is False
    assert "pressluft node key" in str(error)
    assert "deploy" in str(error)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) but never speaks SSH."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_unreachable_host_is_retryable_and_reconnect_works_once_it_is_back(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey) -> None:
    ssh_server.stop()

    async def scenario():
        async with open_pool(control_key, connect_timeout=1) as pool:
            with pytest.raises(HostUnreachable) as refused:
                await pool.session(ssh_server.target("n1"))
            with pytest.raises(HostUnreachable):
                await pool.session(NodeTarget("n2", "no-such-host.invalid", 22, "root"))
            with pytest.raises(HostUnreachable):
                await pool.session(NodeTarget("n3", "127.0.0.1", _free_port(), "root"))
            with silent_listener() as port, pytest.raises(HostUnreachable, match="no SSH answer"):
                await pool.session(NodeTarget("n4", "127.0.0.1", port, "root"))
            ssh_server.start()
            result = await (await pool.session(ssh_server.target("n1"))).run(["echo", "up"])
            return refused.value, result

    error, result = arun(scenario())
    assert error.retryable is True
    assert f"127.0.0.1:{ssh_server.port}" in str(error)
    assert result.output_tail == "up"


def test_a_garbled_recorded_key_is_an_error_not_a_first_use(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey) -> None:
    async def scenario():
        async with open_pool(control_key) as pool:
            with pytest.raises(RemoteError, match="not a valid OpenSSH public key"):
                await pool.session(ssh_server.target("n1", known_host_key="ssh-ed25519 ???"))
            return pool.new_host_keys

    assert arun(scenario()) == []
