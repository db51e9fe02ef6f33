"""Running commands on a node through the in-process SSH server: every rule of remote
execution, through the node agent and through the plain-exec fallback alike."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
from pathlib import Path

import asyncssh
import pytest

from pressluft_core.remote import ConnectionLost, RemoteCancelled, RemoteTimeout
from tests.remote.support import arun, open_pool
from tests.sshserver import SSHTestServer, live_group_members, wait_until


def _pool(key: asyncssh.SSHKey, mode: str):
    return open_pool(key, use_agent=mode == "agent")


def test_exit_status_is_returned_and_both_streams_stream(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    seen: list[tuple[str, str]] = []

    async def scenario():
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            result = await session.run(["sh", "-c", "echo out; echo err >&2; exit 3"],
                                       on_output=lambda s, line: seen.append((s, line)))
            missing = await session.run(["no-such-command-pressluft"])
            return session.execution_mode(), result, missing

    used, result, missing = arun(scenario())
    assert used == mode
    assert result.exit_status == 3
    assert sorted(seen) == [("stderr", "err"), ("stdout", "out")]
    assert sorted(result.output_tail.splitlines()) == ["err", "out"]
    assert missing.exit_status == 127


def test_hostile_values_reach_the_node_as_literal_arguments(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str,
        tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    hostile = [f"$(touch {target})", f"`touch {target}`", f"; touch {target}; #",
               "x'; rm -rf / #", 'say "hi"', "two\nlines", "$HOME", "*", "back\\slash", ""]

    async def scenario():
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            echoed = await session.run(["echo", *hostile])
            fed = await session.run(["cat"], input=("\n".join(hostile) + "\n").encode())
            return echoed, fed

    echoed, fed = arun(scenario())
    assert echoed.exit_status == 0
    assert echoed.output_tail == " ".join(hostile)
    assert fed.output_tail == "\n".join(hostile)
    assert not target.exists()
    for _user, command in ssh_server.commands:
        if mode == "agent":  # argv travels as JSON data to the agent, never in a command
            assert "touch" not in command
        elif "touch" in command:  # quoted: the shell splits it back into the same argv
            assert shlex.split(command)[-len(hostile) - 1:] == ["echo", *hostile]


def test_large_binary_input_arrives_intact(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    data = os.urandom(700_000)

    async def scenario():
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            return await session.run(["sha256sum"], input=data)

    result = arun(scenario())
    assert result.output_tail.split()[0] == hashlib.sha256(data).hexdigest()


def test_output_arrives_while_the_command_still_runs(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    # The command waits for a file that only the output callback creates, on seeing the
    # first line: it can finish only if that line was delivered before it ended.
    gate = ssh_server.workdir / "gate"
    script = f"echo first; while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.02; done; " \
             "echo second"
    lines: list[str] = []

    def on_output(_stream: str, line: str) -> None:
        lines.append(line)
        if line == "first":
            gate.touch()

    async def scenario():
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            return await session.run(["sh", "-c", script], on_output=on_output, timeout=30)

    result = arun(scenario())
    assert result.exit_status == 0
    assert lines == ["first", "second"]


def _group_script(workdir: Path) -> str:
    """Record the group id, start a background child too, say ready, then hang."""
    pid_file = shlex.quote(str(workdir / "pgid"))
    return f"echo $$ > {pid_file}; sleep 300 & echo ready; sleep 300"


def _assert_group_gone(workdir: Path) -> None:
    pgid = int((workdir / "pgid").read_text())
    assert wait_until(lambda: not live_group_members(pgid)), live_group_members(pgid)


def test_timeout_kills_the_remote_process_group(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    async def scenario():
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            with pytest.raises(RemoteTimeout) as caught:
                await session.run(["sh", "-c", _group_script(ssh_server.workdir)],
                                  timeout=1.0)
            after = await session.run(["echo", "still usable"])
            return caught.value, after

    error, after = arun(scenario())
    assert "ready" in error.output_tail
    assert error.retryable is False
    _assert_group_gone(ssh_server.workdir)
    assert after.output_tail == "still usable"


def test_cancel_kills_the_remote_process_group(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    async def scenario():
        cancel = asyncio.Event()
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            with pytest.raises(RemoteCancelled):
                await session.run(["sh", "-c", _group_script(ssh_server.workdir)],
                                  cancel=cancel, on_output=lambda _s, _l: cancel.set())
            with pytest.raises(RemoteCancelled):  # already set: never started
                await session.run(["touch", str(ssh_server.workdir / "never")], cancel=cancel)

    arun(scenario())
    _assert_group_gone(ssh_server.workdir)
    assert not (ssh_server.workdir / "never").exists()


def test_failing_output_callback_stops_the_remote_command(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    def explode(_stream: str, _line: str) -> None:
        raise RuntimeError("log sink broke")

    async def scenario():
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            with pytest.raises(RuntimeError):
                await session.run(["sh", "-c", _group_script(ssh_server.workdir)],
                                  on_output=explode)
            await session.run(["true"])  # the session survives; closing the pool waits
            # for the kill that went out in the background

    arun(scenario())
    _assert_group_gone(ssh_server.workdir)


def test_cancelled_task_stops_the_remote_command(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    # How a job runner abandons a step (worker shutdown, its own deadline): task.cancel().
    async def scenario():
        ready = asyncio.Event()
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            task = asyncio.create_task(session.run(
                ["sh", "-c", _group_script(ssh_server.workdir)],
                on_output=lambda _s, _l: ready.set()))
            await ready.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    arun(scenario())
    _assert_group_gone(ssh_server.workdir)


def test_connection_drop_raises_connection_lost_and_next_session_reconnects(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    async def scenario():
        async with _pool(control_key, mode) as pool:
            first = await pool.session(ssh_server.target())
            with pytest.raises(ConnectionLost) as caught:
                await first.run(["sh", "-c", _group_script(ssh_server.workdir)],
                                on_output=lambda _s, _l: ssh_server.drop_connections())
            with pytest.raises(ConnectionLost):
                await first.run(["true"])
            second = await pool.session(ssh_server.target())
            result = await second.run(["echo", "back"])
            return caught.value, first is second, result

    error, same, result = arun(scenario())
    assert error.retryable is True
    assert "ready" in error.output_tail
    assert not same
    assert result.output_tail == "back"
    assert ssh_server.connection_count == 2
    if mode == "agent":  # the agent kills its commands when its connection goes
        _assert_group_gone(ssh_server.workdir)


def test_output_tail_keeps_the_last_10_kb(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    script = 'i=0; while [ $i -lt 3000 ]; do echo "line $i of the output"; i=$((i+1)); done'

    async def scenario():
        async with _pool(control_key, mode) as pool:
            session = await pool.session(ssh_server.target())
            return await session.run(["sh", "-c", script])

    tail = arun(scenario()).output_tail
    assert len(tail.encode()) <= 10 * 1024
    assert tail.endswith("line 2999 of the output")
    assert len(tail.encode()) > 9 * 1024


def test_concurrent_runs_share_one_connection_and_one_agent(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey) -> None:
    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(ssh_server.target())
            runs = [session.run(["sh", "-c", f"echo start {n}; sleep 0.2; echo end {n}"])
                    for n in range(8)]
            return await asyncio.gather(*runs)

    results = arun(scenario())
    for n, result in enumerate(results):
        assert result.output_tail == f"start {n}\nend {n}"
    assert ssh_server.connection_count == 1
    assert len(ssh_server.commands_matching("python3 -I")) == 1


def test_node_without_python_falls_back_to_plain_exec(
        tmp_path: Path, control_key: asyncssh.SSHKey) -> None:
    server = SSHTestServer(tmp_path / "bare-node", hide_python=True)
    server.authorize(control_key)
    server.start()

    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(server.target())
            result = await session.run(["echo", "$(id)"])
            with pytest.raises(RemoteTimeout):
                await session.run(["sh", "-c", _group_script(server.workdir)], timeout=1.0)
            return session.execution_mode(), result

    try:
        used, result = arun(scenario())
    finally:
        server.close()
    assert used == "exec"
    assert result.output_tail == "$(id)"
    _assert_group_gone(server.workdir)
    assert len(server.commands_matching("python3 -I")) == 1  # tried once per connection


def test_agent_starts_despite_a_chatty_shell_rc(
        tmp_path: Path, control_key: asyncssh.SSHKey) -> None:
    # Output the login shell prints before the agent's hello (a .bashrc banner) is skipped;
    # commands run by the agent never see the shell, hence never the noise.
    server = SSHTestServer(tmp_path / "chatty-node", rc_noise="Welcome! {\"ev\": 1}")
    server.authorize(control_key)
    server.start()

    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(server.target())
            result = await session.run(["echo", "clean"])
            return session.execution_mode(), result

    try:
        used, result = arun(scenario())
    finally:
        server.close()
    assert used == "agent"
    assert result.output_tail == "clean"
