"""A session on one node and the run loop every step goes through.

A session runs each command through the node agent (one long-lived ``python3`` process
per connection and privilege level, commands multiplexed over it by request id, no shell
per step) or, where the agent cannot start, through one SSH exec per command. Either way
the command gets its own process group on the node, output arrives line by line as it is
produced, and a timeout or cancellation kills that group before the error is raised. A
non-zero exit status is a result, not an error: the job layer decides what it means.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import shlex
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from pressluft_core.remote import execution as ex
from pressluft_core.remote.errors import (
    ConnectionLost,
    RemoteCancelled,
    RemoteError,
    RemoteTimeout,
)
from pressluft_core.remote.streaming import ChunkSink, stream_command
from pressluft_core.remote.transport import Connected

log = logging.getLogger("pressluft.remote")

KILL_WAIT = 10.0  # how long a timeout/cancel waits for the node to confirm the kill
HELPER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
OutputCallback = Callable[[str, str], None]
Run = ex.AgentRun | ex.PlainRun


@dataclass(frozen=True)
class NodeTarget:
    node_id: str
    host: str
    port: int
    user: str
    known_host_key: str | None = None  # OpenSSH public key line recorded on first use
    name: str | None = None  # the operator's name for the node, for messages

    @property
    def label(self) -> str:
        return self.name or self.node_id


@dataclass(frozen=True)
class RunResult:
    exit_status: int
    output_tail: str  # last <= 10 KB of stdout and stderr, interleaved as received


# Runs as the SSH user (no sudo). Prefers the user's cache dir; falls back to a private
# /tmp dir it owns. Writes to a temp name, checks the checksum (a cut-off upload must never
# sit under the checksum name), then renames into place.
_UPLOAD_SCRIPT = r"""set -eu
name=$1 sum=$2
d="${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/pressluft/helpers"
if ! mkdir -p "$d" 2>/dev/null || [ ! -w "$d" ]; then
  d="/tmp/pressluft-$(id -u)"
  mkdir -p -m 700 "$d"
  if [ -L "$d" ] || [ ! -O "$d" ]; then echo "refusing $d: not owned by $(id -un)" >&2; exit 1; fi
fi
p="$d/$name"
if [ -f "$p" ]; then echo "present $p"; exit 0; fi
t="$p.$$.tmp"
cat > "$t"
case "$(sha256sum < "$t")" in
  "$sum "*) ;;
  *) rm -f "$t"; echo "upload of $name arrived incomplete" >&2; exit 1 ;;
esac
chmod 0755 "$t"
mv -f "$t" "$p"
echo "created $p"
"""


class NodeSession:
    """One authenticated connection to one node; get it from :meth:`ConnectionPool.session`.

    Agents: at most two per connection, started on first use: one as the SSH user, and for
    a non-root user one under ``sudo -n`` (so it can kill the root-owned process groups of
    the commands it starts). Concurrent runs share them, multiplexed by request id.
    """

    def __init__(self, connected: Connected, target: NodeTarget, *, use_agent: bool,
                 start_timeout: float) -> None:
        self.target = target
        self.host_key = connected.host_key
        self._conn = connected.conn
        self._client = connected.client
        self._use_agent = use_agent
        self._start_timeout = start_timeout
        self._agents: dict[bool, ex.AgentChannel] = {}
        self._no_agent: dict[bool, str] = {}  # privileged? -> why the agent cannot start
        self._agent_lock = asyncio.Lock()
        self._uploaded: dict[str, str] = {}
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def where(self) -> str:
        return f"node {self.target.label} ({self.target.host}:{self.target.port})"

    @property
    def closed(self) -> bool:
        return self._client.lost or self._conn.is_closed()

    def execution_mode(self, sudo: bool = True) -> str | None:
        """``"agent"``, ``"exec"`` (fallback), or None before the first run decided it."""
        privileged = self._privileged(sudo)
        agent = self._agents.get(privileged)
        if agent is not None and agent.alive:
            return "agent"
        return "exec" if privileged in self._no_agent or not self._use_agent else None

    async def run(self, argv: Sequence[str], *, input: bytes | None = None,
                  on_output: OutputCallback | None = None, timeout: float | None = None,
                  cancel: asyncio.Event | None = None, sudo: bool = True) -> RunResult:
        """Run ``argv`` (no shell: each element reaches the command as one argument).

        ``input`` is the command's stdin (else it reads /dev/null); ``on_output`` gets each
        line of stdout/stderr as it arrives. Raises RemoteTimeout / RemoteCancelled after
        killing the remote process group, ConnectionLost when the connection goes.
        """
        argv = list(argv)
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise ValueError("argv must be a non-empty sequence of str")
        what = f"`{argv[0]}` on {self.where}"
        if cancel is not None and cancel.is_set():
            raise RemoteCancelled(f"{what} was cancelled before it started")
        run = await self._open(argv, self._privileged(sudo), input is not None)
        tail = ex.OutputTail()
        helpers: list[asyncio.Task[None]] = []
        timer = None
        if timeout is not None:
            timer = asyncio.get_running_loop().call_later(
                timeout, run.events.put_nowait, (ex.TIMEOUT,))
        if cancel is not None:
            helpers.append(asyncio.create_task(_relay_cancel(cancel, run.events)))
        if input is not None:
            helpers.append(asyncio.create_task(run.feed(input)))
        else:
            run.close_input()
        finished = False
        try:
            while True:
                event = await run.events.get()
                if event[0] == ex.OUT:
                    tail.add(event[2])
                    if on_output is not None:
                        on_output(event[1], event[2])
                elif event[0] == ex.EXIT:
                    finished = True
                    return RunResult(event[1], tail.text())
                elif event[0] == ex.LOST:
                    finished = True
                    raise ConnectionLost(f"lost the connection while running {what}: "
                                         f"{event[1]}", output_tail=tail.text())
                else:
                    finished = await self._kill(run, tail, on_output)
                    if event[0] == ex.TIMEOUT:
                        raise RemoteTimeout(f"{what} did not finish within {timeout:g} s; "
                                            "its process group was killed",
                                            output_tail=tail.text())
                    raise RemoteCancelled(f"{what} was cancelled; its process group was "
                                          "killed", output_tail=tail.text())
        finally:
            if timer is not None:
                timer.cancel()
            for task in helpers:
                task.cancel()
            if finished:
                run.release()
            else:  # abandoned (task cancelled, callback raised): stop it anyway
                self._spawn(_kill_and_release(run))

    async def stream(self, argv: Sequence[str], *, sudo: bool = True,
                     on_stdout: ChunkSink | None = None,
                     stdin: AsyncIterator[bytes] | None = None,
                     on_stderr: Callable[[str], None] | None = None,
                     cancel: asyncio.Event | None = None) -> int:
        """Run ``argv`` with binary stdout/stdin streamed (backups, restores); see
        :func:`pressluft_core.remote.streaming.stream_command`. Returns the exit status."""
        if self.closed:
            raise ConnectionLost(f"{self.where}: the connection is closed")
        return await stream_command(self._conn, list(argv),
                                    ["sudo", "-n"] if self._privileged(sudo) else [],
                                    self.where, on_stdout=on_stdout, stdin=stdin,
                                    on_stderr=on_stderr, cancel=cancel)

    async def upload_helper(self, name: str, content: bytes) -> str:
        """Put a node-side script on the node as ``<sha256[:16]>-<name>`` (uploading only
        when that file is absent) and return its absolute path."""
        if not HELPER_NAME_RE.fullmatch(name):
            raise ValueError(f"helper name {name!r} must match {HELPER_NAME_RE.pattern}")
        digest = hashlib.sha256(content).hexdigest()
        filename = f"{digest[:16]}-{name}"
        if filename in self._uploaded:
            return self._uploaded[filename]
        command = shlex.join(["sh", "-c", _UPLOAD_SCRIPT, "pressluft-upload", filename, digest])
        try:
            process = await self._conn.create_process(command, encoding=None)
            # When the file is present the script exits without reading: the content may
            # then meet a closed channel, which is fine (a short read fails the checksum).
            with contextlib.suppress(*ex.CHANNEL_ERRORS):
                process.stdin.write(content)
                process.stdin.write_eof()
            result = await process.wait()
        except ex.CHANNEL_ERRORS as exc:
            raise ConnectionLost(f"{self.where}: upload of {name} interrupted: {exc}") from None
        if result.exit_status is None:
            raise ConnectionLost(f"{self.where}: upload of {name} interrupted")
        lines = bytes(result.stdout or b"").decode(errors="replace").splitlines()
        said = lines[-1].split(maxsplit=1) if lines else []  # earlier lines: rc-file noise
        if result.exit_status != 0 or len(said) != 2 or said[0] not in ("present", "created"):
            why = bytes(result.stderr or b"").decode(errors="replace").strip()
            raise RemoteError(f"{self.where}: could not upload {name}: "
                              f"{why or f'exit status {result.exit_status}'}")
        self._uploaded[filename] = said[1]
        return said[1]

    async def close(self) -> None:
        if self._background:  # kills of abandoned runs go out before the connection closes
            await asyncio.wait(self._background, timeout=KILL_WAIT)
        for agent in self._agents.values():
            agent.close()  # the agent kills its running process groups on EOF
        self._conn.close()
        with contextlib.suppress(*ex.CHANNEL_ERRORS):
            await self._conn.wait_closed()
        for task in list(self._background):
            task.cancel()

    # -- internals ----------------------------------------------------------------------

    def _privileged(self, sudo: bool) -> bool:
        return sudo and self.target.user != "root"

    async def _open(self, argv: list[str], privileged: bool, has_input: bool) -> Run:
        if self.closed:
            raise ConnectionLost(f"{self.where}: the connection is closed")
        try:
            agent = await self._agent(privileged)
            if agent is not None:
                return agent.open_run(argv, has_input)
            return await ex.PlainRun.start(self._conn, argv,
                                           ["sudo", "-n"] if privileged else [])
        except ex.CHANNEL_ERRORS as exc:
            raise ConnectionLost(f"{self.where}: could not start `{argv[0]}`: {exc}") from None

    async def _agent(self, privileged: bool) -> ex.AgentChannel | None:
        if not self._use_agent:
            return None
        async with self._agent_lock:
            agent = self._agents.get(privileged)
            if agent is not None and agent.alive:
                return agent
            if privileged in self._no_agent:
                return None
            try:
                path = await self.upload_helper(ex.AGENT_NAME, ex.AGENT_SOURCE)
                prefix = ["sudo", "-n"] if privileged else []
                agent = await ex.AgentChannel.start(
                    self._conn, shlex.join([*prefix, "python3", "-I", path]),
                    self._start_timeout)
            except ConnectionLost:
                raise
            except (ex.AgentUnavailable, RemoteError) as exc:
                log.warning("%s: node agent%s unavailable (%s); running each command with "
                            "its own SSH exec", self.where, " (sudo)" if privileged else "",
                            exc)
                self._no_agent[privileged] = str(exc)
                return None
            self._agents[privileged] = agent
            return agent

    async def _kill(self, run: Run, tail: ex.OutputTail, on_output: OutputCallback | None) -> bool:
        """Kill the run's process group and wait for the node to report it ended."""
        await run.kill()
        try:
            async with asyncio.timeout(KILL_WAIT):
                while True:
                    event = await run.events.get()
                    if event[0] == ex.OUT:
                        tail.add(event[2])
                        if on_output is not None:
                            on_output(event[1], event[2])
                    elif event[0] in (ex.EXIT, ex.LOST):
                        return True
        except TimeoutError:
            log.warning("%s: no confirmation that the killed command ended", self.where)
            return False

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _relay_cancel(cancel: asyncio.Event, events: asyncio.Queue[ex.Event]) -> None:
    await cancel.wait()
    events.put_nowait((ex.CANCEL,))


async def _kill_and_release(run: Run) -> None:
    """Kill before letting go: a plain run still needs its channel to learn the group id."""
    try:
        await run.kill()
    finally:
        run.release()
