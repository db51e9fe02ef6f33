"""Against the real OpenSSH sshd that scripts/test starts on 127.0.0.1 (a dedicated node
user with a clean shell and passwordless sudo): the same rules as with the in-process
server, on the code path production nodes take."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from pressluft_core.remote import HostKeyChanged, NodeTarget, RemoteTimeout
from pressluft_core.remote.keys import key_line
from tests.remote.support import arun, open_pool
from tests.sshserver import REAL_SSHD_DIR as SSHD_DIR
from tests.sshserver import REAL_SSHD_PORT as PORT
from tests.sshserver import REAL_SSHD_USER as USER
from tests.sshserver import (
    authorized_on_real_sshd,
    live_group_members,
    needs_real_sshd,
    wait_until,
)

pytestmark = needs_real_sshd


@pytest.fixture
def node(control_key: asyncssh.SSHKey) -> Iterator[NodeTarget]:
    assert PORT and USER
    with authorized_on_real_sshd(control_key):
        yield NodeTarget("sshd-node", "127.0.0.1", int(PORT), USER, None)


def _host_key_line() -> str:
    fields = (SSHD_DIR / "ssh_host_ed25519_key.pub").read_text().split()
    return " ".join(fields[:2])


def test_real_sshd_runs_hostile_arguments_literally_through_the_agent(
        node: NodeTarget, control_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    hostile = [f"$(touch {pwned})", f"; touch {pwned}", "x'; rm -rf / #", "a\nb", "$HOME"]

    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(node)
            whoami = await session.run(["id", "-un"], sudo=False)
            echoed = await session.run(["echo", *hostile])  # as root: could write pwned
            helper = await session.upload_helper("probe.sh", b"echo probe\n")
            modes = (session.execution_mode(sudo=False), session.execution_mode(sudo=True))
            return pool.new_host_keys, modes, whoami, echoed, helper

    reported, modes, whoami, echoed, helper = arun(scenario())
    assert reported == [("sshd-node", _host_key_line())]
    assert modes == ("agent", "agent")
    assert whoami.output_tail == USER
    assert echoed.output_tail == " ".join(hostile)
    assert not pwned.exists()
    assert helper.startswith(f"/var/lib/{USER}/.cache/pressluft/helpers/")


@pytest.mark.parametrize("sudo", [False, True], ids=["as-user", "sudo"])
@pytest.mark.parametrize("mode", ["agent", "exec"])
def test_real_sshd_timeout_kills_the_process_group(
        node: NodeTarget, control_key: asyncssh.SSHKey, sudo: bool, mode: str) -> None:
    pid_file = f"/tmp/pressluft-pgid-{os.getpid()}-{int(sudo)}"  # writable by the node user
    script = f"echo $$ > {shlex.quote(pid_file)}; sleep 300 & id -u; sleep 300"
    seen: list[str] = []

    async def scenario():
        async with open_pool(control_key, use_agent=mode == "agent") as pool:
            session = await pool.session(node)
            with pytest.raises(RemoteTimeout):
                await session.run(["sh", "-c", script], sudo=sudo, timeout=2.0,
                                  on_output=lambda _s, line: seen.append(line))

    try:
        arun(scenario())
        pgid = int(Path(pid_file).read_text())
    finally:
        Path(pid_file).unlink(missing_ok=True)
    assert seen == (["0"] if sudo else [str(os.stat(f"/var/lib/{USER}").st_uid)])
    assert wait_until(lambda: not live_group_members(pgid)), live_group_members(pgid)


def test_real_sshd_streams_output_and_refuses_a_wrong_host_key(
        node: NodeTarget, control_key: asyncssh.SSHKey) -> None:
    gate = Path(f"/tmp/pressluft-test/gate-{os.getpid()}")
    gate.unlink(missing_ok=True)
    script = f"echo first; while [ ! -e {gate} ]; do sleep 0.02; done; echo second"
    wrong = key_line(asyncssh.generate_private_key("ssh-ed25519"))

    def on_output(_stream: str, line: str) -> None:
        if line == "first":
            gate.touch()

    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(NodeTarget(node.node_id, node.host, node.port,
                                                    node.user, _host_key_line()))
            result = await session.run(["sh", "-c", script], sudo=False, on_output=on_output,
                                       timeout=30)
        async with open_pool(control_key) as pool:
            with pytest.raises(HostKeyChanged):
                await pool.session(NodeTarget("sshd-node", node.host, node.port, node.user,
                                              wrong))
        return result

    try:
        result = arun(scenario())
    finally:
        gate.unlink(missing_ok=True)
    assert result.output_tail == "first\nsecond"


def test_bulk_streams_are_encrypted_with_aes_gcm_when_sshd_offers_it(
        node: NodeTarget, control_key: asyncssh.SSHKey) -> None:
    """Backups, restores and moves pass through the control plane's Python SSH stack:
    AES-GCM (one OpenSSL call per packet) is negotiated ahead of asyncssh's ChaCha20."""

    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(node)
            conn = session._conn
            return conn.get_extra_info("send_cipher"), conn.get_extra_info("recv_cipher")

    assert arun(scenario()) == ("aes128-gcm@openssh.com", "aes128-gcm@openssh.com")
