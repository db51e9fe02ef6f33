"""An in-process SSH server that runs real commands, for integration tests.

asyncssh serves on 127.0.0.1 from a background thread with its own event loop, so sync
tests (each driving the client with ``asyncio.run``), threads and worker subprocesses can
all connect to it over TCP. Like sshd, every exec runs ``/bin/sh -c <command>`` in a new
session with the channel's stdin/stdout/stderr wired to it; HOME and the working
directory are the server's ``workdir``. Commands run as the test process's user whatever
the SSH user name is, and any name is accepted with an authorized key.

Knobs for failure tests: :meth:`SSHTestServer.drop_connections` (mid-command loss),
:meth:`stop` / :meth:`start` (refused connections, same port), :meth:`restart` with
``new_host_key=True`` (a changed host key), ``hide_python=True`` (a node without python3),
``rc_noise="..."`` (a shell rc file that prints on every exec).

Use the ``ssh_server`` fixture (import it into a conftest or test module:
``from tests.sshserver import control_key, ssh_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shlex
import signal
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import pytest

from pressluft_core.remote import NodeTarget
from pressluft_core.remote.keys import key_line

T = TypeVar("T")
_IO_ERRORS = (asyncssh.Error, OSError, EOFError)


class SSHTestServer:
    def __init__(self, workdir: Path, *, hide_python: bool = False,
                 rc_noise: str | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = 0
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.commands: list[tuple[str, str]] = []  # (user, command) of every exec
        self.connection_count = 0
        self._authorized: set[bytes] = set()
        self._path = self._python_free_path() if hide_python else os.environ["PATH"]
        self._rc_noise = rc_noise
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._procs: set[asyncio.subprocess.Process] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._marker = f"PRESSLUFT_TEST_SSHD={uuid.uuid4().hex}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="ssh-test-server")
        self._thread.start()

    # -- control, callable from any thread ----------------------------------------------

    @property
    def host_key_line(self) -> str:
        return key_line(self.host_key)

    def authorize(self, key: asyncssh.SSHKey) -> None:
        self._authorized.add(key.public_data)

    def target(self, node_id: str = "node-1", user: str = "root",
               known_host_key: str | None = None) -> NodeTarget:
        return NodeTarget(node_id, self.host, self.port, user, known_host_key)

    def start(self) -> None:
        self._call(self._start)

    def stop(self) -> None:
        """Stop listening, drop every connection and kill every command still running."""
        self._call(self._stop)

    def restart(self, *, new_host_key: bool = False) -> None:
        self.stop()
        if new_host_key:
            self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.start()

    def drop_connections(self) -> None:
        """Cut every open connection at once, as a network failure would."""
        self._loop.call_soon_threadsafe(self._abort_all)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def commands_matching(self, needle: str) -> list[str]:
        return [command for _user, command in self.commands if needle in command]

    # -- server side, on the server's loop ----------------------------------------------

    def _call(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run_coroutine_threadsafe(factory(), self._loop).result(30)

    async def _start(self) -> None:
        self._acceptor = await asyncssh.listen(
            self.host, self.port, server_factory=lambda: _Server(self),
            server_host_keys=[self.host_key], process_factory=self._handle, encoding=None)
        self.port = self._acceptor.get_port()

    async def _stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        self._abort_all()  # EOF: node agents kill their commands (sudo'd ones included)
        _kill_marked(self._marker)
        if self._procs:
            await asyncio.wait([asyncio.create_task(p.wait()) for p in self._procs], timeout=2)
        for proc in list(self._procs):
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)

    def _abort_all(self) -> None:
        for conn in list(self._conns):
            conn.abort()

    async def _handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command or ""
        user = process.get_extra_info("username") or ""
        self.commands.append((user, command))
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        env = {"HOME": str(self.workdir), "PATH": self._path, "USER": user, "LOGNAME": user,
               "SHELL": "/bin/sh", "LANG": "C.UTF-8"}
        key, _, value = self._marker.partition("=")
        env[key] = value  # lets stop() find what commands left behind
        if self._rc_noise is not None:  # like a chatty .bashrc, before every command
            command = f"echo {shlex.quote(self._rc_noise)}; {command}"
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, cwd=self.workdir, env=env, start_new_session=True,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        self._procs.add(proc)
        feeder = asyncio.create_task(_pump_in(process, proc))
        try:
            assert proc.stdout is not None and proc.stderr is not None
            await asyncio.gather(_pump_out(proc.stdout, process.stdout),
                                 _pump_out(proc.stderr, process.stderr))
            status = await proc.wait()
        finally:
            feeder.cancel()
            self._procs.discard(proc)
        with contextlib.suppress(*_IO_ERRORS):
            process.exit(status if status >= 0 else 128 - status)

    def _python_free_path(self) -> str:
        """A PATH directory holding everything from /usr/bin and /usr/sbin but python."""
        bin_dir = self.workdir / ".no-python-bin"
        bin_dir.mkdir(exist_ok=True)
        for source in (Path("/usr/sbin"), Path("/usr/bin")):
            for entry in source.iterdir():
                link = bin_dir / entry.name
                if not entry.name.startswith("python") and not link.exists():
                    link.symlink_to(entry)
        return str(bin_dir)


class _Server(asyncssh.SSHServer):
    def __init__(self, owner: SSHTestServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner._conns.add(conn)
        self._owner.connection_count += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner._conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return key.public_data in self._owner._authorized


async def _pump_in(process: asyncssh.SSHServerProcess[bytes],
                   proc: asyncio.subprocess.Process) -> None:
    """Channel stdin to the command; EOF (or a dropped connection) closes its stdin, as
    sshd does."""
    assert proc.stdin is not None
    try:
        while data := await process.stdin.read(65536):
            proc.stdin.write(data)
            await proc.stdin.drain()
    except _IO_ERRORS:
        pass
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()


async def _pump_out(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
    """Command output to the channel; once the client is gone, keep draining (discarding)
    so the command is never blocked on a full pipe."""
    connected = True
    while data := await source.read(65536):
        if connected:
            try:
                sink.write(data)
                await sink.drain()
            except _IO_ERRORS:
                connected = False


def _kill_marked(marker: str) -> None:
    """SIGKILL every process whose environment carries ``marker``: the leftovers of
    commands that outlived their connection (as they would under sshd), so a test run
    leaves nothing behind. Commands under sudo lose the marker; their agent ends them."""
    needle = marker.encode() + b"\0"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            continue


# -- helpers for tests -------------------------------------------------------------------

def live_group_members(pgid: int) -> list[int]:
    """PIDs of processes in process group ``pgid`` that are not zombies (a zombie is dead;
    whether anyone reaps it depends on this machine's init)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False). For effects
    that happen asynchronously on the node side, like a killed process disappearing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def control_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519", comment="pressluft@test")


@pytest.fixture
def ssh_server(tmp_path: Path, control_key: asyncssh.SSHKey) -> Iterator[SSHTestServer]:
    """A started server that accepts ``control_key`` for any user."""
    server = SSHTestServer(tmp_path / "node")
    server.authorize(control_key)
    server.start()
    try:
        yield server
    finally:
        server.close()


REAL_SSHD_PORT = os.environ.get("PRESSLUFT_TEST_SSHD_PORT")
REAL_SSHD_USER = os.environ.get("PRESSLUFT_TEST_SSHD_USER")
REAL_SSHD_DIR = Path(os.environ.get("PRESSLUFT_TEST_RUN_DIR", "/tmp/pressluft-test")) / "sshd"
needs_real_sshd = pytest.mark.skipif(
    not (REAL_SSHD_PORT and REAL_SSHD_USER) or os.geteuid() != 0,
    reason="real sshd: run as root via scripts/test (PRESSLUFT_TEST_SSHD_PORT/_USER unset)")


@contextlib.contextmanager
def authorized_on_real_sshd(key: asyncssh.SSHKey) -> Iterator[None]:
    """Authorize ``key`` for the real sshd's node user while the block runs. The file is
    shared (other tests and benchmarks use the same sshd): edits happen under an
    exclusive flock and touch only this key's line."""
    user = os.environ.get("PRESSLUFT_TEST_SSHD_USER")
    assert user, "PRESSLUFT_TEST_SSHD_USER is not set: start sshd with scripts/test"
    authorized = REAL_SSHD_DIR / "authorized_keys" / user
    line = key_line(key, with_comment=True) + "\n"
    with authorized.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(line)
    try:
        yield
    finally:
        with authorized.open("r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            kept = [kept for kept in handle.readlines() if kept != line]
            handle.seek(0)
            handle.writelines(kept)
            handle.truncate()
