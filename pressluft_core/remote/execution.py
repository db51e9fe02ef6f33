"""The two ways one command runs on a node, both reduced to one stream of events.

* :class:`AgentChannel` talks to the node agent (``node_agent.py``): one process per SSH
  connection and privilege level, several commands multiplexed over it by request id, no
  shell and no rc files per step.
* :class:`PlainRun` is the fallback when the agent cannot start (no python3): one SSH exec
  per command, in the process group sshd gives each exec, whose id a tiny wrapper reports
  first on stderr so a timeout or cancel can kill the group.

A run's events go to an ``asyncio.Queue`` the session's run loop consumes:
``("out", stream, line)``, ``("exit", status)``, ``("lost", detail)``, and the loop's own
``("timeout",)`` / ``("cancel",)``. :class:`OutputTail` keeps the last 10 KB of a run's
output for its result and for the errors that end it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shlex
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncssh

OUT, EXIT, LOST, TIMEOUT, CANCEL = "out", "exit", "lost", "timeout", "cancel"
Event = tuple[Any, ...]

AGENT_NAME = "pressluft-agent.py"
AGENT_SOURCE = Path(__file__).with_name("node_agent.py").read_bytes()
AGENT_PROTOCOL = 1
LINE_MAX = 65536          # longer output lines are delivered in pieces
INPUT_CHUNK = 48 * 1024   # stdin bytes per agent message
TAIL_BYTES = 10 * 1024    # RunResult.output_tail and error tails
KILL_TIMEOUT = 10.0       # bound on the extra exec that kills a plain run's group

# Errors that mean the channel or the connection under it is gone.
CHANNEL_ERRORS = (asyncssh.Error, OSError, EOFError)


class AgentUnavailable(Exception):
    """The agent could not start on this connection; the reason says why."""


async def read_lines(reader: asyncssh.SSHReader[bytes], max_line: int) -> AsyncIterator[bytes]:
    """Lines without their newline, as soon as each is complete (and at most ``max_line``)."""
    buf = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            if buf:
                yield buf
            return
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield line
        while len(buf) >= max_line:
            yield buf[:max_line]
            buf = buf[max_line:]


def decode_line(raw: bytes) -> str:
    return raw.removesuffix(b"\r").decode("utf-8", "replace")


class OutputTail:
    """The last ``limit`` bytes of output, kept line-wise so memory stays flat."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self._limit = limit
        self._lines: deque[tuple[str, int]] = deque()
        self._size = 0

    def add(self, line: str) -> None:
        size = len(line.encode()) + 1
        self._lines.append((line, size))
        self._size += size
        while self._size > self._limit and len(self._lines) > 1:
            self._size -= self._lines.popleft()[1]

    def text(self) -> str:
        text = "\n".join(line for line, _ in self._lines)
        encoded = text.encode()
        if len(encoded) > self._limit:
            text = encoded[-self._limit:].decode("utf-8", "ignore")
        return text


class AgentChannel:
    """One running node agent; routes its events to the queue of each in-flight run."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes],
                 lines: AsyncIterator[bytes]) -> None:
        self._process = process
        self._lines = lines
        self._routes: dict[int, asyncio.Queue[Event]] = {}
        self._ids = itertools.count(1)
        self.alive = True
        self.detail = ""
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, conn: asyncssh.SSHClientConnection, command: str,
                    timeout: float) -> AgentChannel:
        process = await conn.create_process(command, encoding=None)
        lines = read_lines(process.stdout, 1 << 24)
        said = b""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                # Lines before the hello are noise from the user's shell rc files.
                while (line := await anext(lines, None)) is not None:
                    if _is_hello(line):
                        return cls(process, lines)
                    said = line
        raise AgentUnavailable(await _failure(process, said))

    async def _read(self) -> None:
        try:
            async for raw in self._lines:
                message = json.loads(raw)
                queue = self._routes.get(message.get("id"))
                if queue is None:
                    continue
                if message.get("ev") == "out":
                    queue.put_nowait((OUT, message["s"], message["line"]))
                elif message.get("ev") == "exit":
                    queue.put_nowait((EXIT, int(message["status"])))
            self.detail = "the node agent exited"
        except (*CHANNEL_ERRORS, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.detail = f"{type(exc).__name__}: {exc}"
        finally:
            self.alive = False
            for queue in self._routes.values():
                queue.put_nowait((LOST, self.detail))

    def send(self, message: dict[str, Any]) -> bool:
        """Queue one request for the agent; False when the channel is already gone."""
        if not self.alive:
            return False
        try:
            self._process.stdin.write(json.dumps(message, separators=(",", ":")).encode()
                                      + b"\n")
        except CHANNEL_ERRORS:
            return False
        return True

    def open_run(self, argv: Sequence[str], has_input: bool) -> AgentRun:
        rid = next(self._ids)
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._routes[rid] = queue
        if not self.send({"op": "run", "id": rid, "argv": list(argv), "stdin": has_input}):
            queue.put_nowait((LOST, self.detail or "the node agent is gone"))
        return AgentRun(self, rid, queue)

    def release(self, rid: int) -> None:
        self._routes.pop(rid, None)

    async def drain(self) -> None:
        await self._process.stdin.drain()

    def close(self) -> None:
        """Closing the agent's stdin makes it kill whatever still runs and exit."""
        self.alive = False
        self._process.close()
        self._reader.cancel()


class AgentRun:
    def __init__(self, channel: AgentChannel, rid: int, events: asyncio.Queue[Event]) -> None:
        self._channel = channel
        self._rid = rid
        self.events = events

    async def feed(self, data: bytes) -> None:
        with contextlib.suppress(*CHANNEL_ERRORS):  # a lost channel shows up as LOST
            for offset in range(0, len(data), INPUT_CHUNK):
                chunk = base64.b64encode(data[offset:offset + INPUT_CHUNK]).decode()
                if not self._channel.send({"op": "stdin", "id": self._rid, "data": chunk}):
                    return
                await self._channel.drain()
            self._channel.send({"op": "eof", "id": self._rid})

    def close_input(self) -> None:
        """Nothing to do: a run without input gets /dev/null as stdin on the node."""

    async def kill(self) -> None:
        self._channel.send({"op": "kill", "id": self._rid})

    def release(self) -> None:
        self._channel.release(self._rid)


# sshd starts every exec in a session (and process group) of its own; the command line
# begins with ``exec``, so that group holds exactly this command (and sudo, if any). The
# wrapper reports the group id before handing over to the command.
_PGID_MARK = "\x1epressluft-pgid "
_PGID_SCRIPT = ('read -r _ _ _ _ g _ < /proc/$$/stat; '
                'printf "\\036pressluft-pgid %s\\n" "$g" >&2; exec "$@"')


class PlainRun:
    """One command over its own SSH exec (fallback path); kill = a second exec."""

    def __init__(self, conn: asyncssh.SSHClientConnection,
                 process: asyncssh.SSHClientProcess[bytes], prefix: list[str]) -> None:
        self._conn = conn
        self._process = process
        self._prefix = prefix
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._pgid: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._lost = ""
        pumps = [asyncio.create_task(self._pump(process.stdout, "stdout")),
                 asyncio.create_task(self._pump(process.stderr, "stderr"))]
        self._waiter = asyncio.create_task(self._wait(pumps))

    @classmethod
    async def start(cls, conn: asyncssh.SSHClientConnection, argv: Sequence[str],
                    prefix: list[str]) -> PlainRun:
        command = shlex.join(["exec", *prefix, "sh", "-c", _PGID_SCRIPT, "pressluft", *argv])
        process = await conn.create_process(command, encoding=None)
        return cls(conn, process, prefix)

    async def _pump(self, reader: asyncssh.SSHReader[bytes], stream: str) -> None:
        expect_mark = stream == "stderr"
        try:
            async for raw in read_lines(reader, LINE_MAX):
                line = decode_line(raw)
                if expect_mark:
                    expect_mark = False
                    if line.startswith(_PGID_MARK):
                        self._pgid.set_result(int(line[len(_PGID_MARK):]))
                        continue
                self.events.put_nowait((OUT, stream, line))
        except CHANNEL_ERRORS as exc:
            self._lost = f"{type(exc).__name__}: {exc}"

    async def _wait(self, pumps: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*pumps)
        with contextlib.suppress(*CHANNEL_ERRORS):
            await self._process.wait_closed()
        status = self._process.returncode
        if self._lost or status is None:
            self.events.put_nowait((LOST, self._lost or "the channel closed without a status"))
        else:
            self.events.put_nowait((EXIT, status if status >= 0 else 128 - status))

    async def feed(self, data: bytes) -> None:
        with contextlib.suppress(*CHANNEL_ERRORS):
            for offset in range(0, len(data), INPUT_CHUNK):
                self._process.stdin.write(data[offset:offset + INPUT_CHUNK])
                await self._process.stdin.drain()
            self._process.stdin.write_eof()

    def close_input(self) -> None:
        with contextlib.suppress(*CHANNEL_ERRORS):
            self._process.stdin.write_eof()

    async def kill(self) -> None:
        try:
            pgid = await asyncio.wait_for(asyncio.shield(self._pgid), KILL_TIMEOUT)
            await asyncio.wait_for(self._conn.run(
                shlex.join([*self._prefix, "env", "kill", "-s", "KILL", "--", f"-{pgid}"])),
                KILL_TIMEOUT)
        except (*CHANNEL_ERRORS, TimeoutError):
            self._process.close()  # best effort: the node sees its pipes close

    def release(self) -> None:
        if not self._waiter.done():
            self._process.close()


def _is_hello(line: bytes) -> bool:
    try:
        hello = json.loads(line)
    except ValueError:
        return False
    return (isinstance(hello, dict) and hello.get("ev") == "hello"
            and hello.get("proto") == AGENT_PROTOCOL)


async def _failure(process: asyncssh.SSHClientProcess[bytes], first: bytes) -> str:
    """Why the agent did not say hello: its exit status and stderr, as far as they come."""
    stderr = b""
    with contextlib.suppress(*CHANNEL_ERRORS, TimeoutError):
        process.stdin.write_eof()  # our agent exits on EOF if it is merely slow
        stderr = await asyncio.wait_for(process.stderr.read(4096), 5)
        await asyncio.wait_for(process.wait_closed(), 5)
    process.close()
    said = (stderr or first).decode("utf-8", "replace").strip().splitlines()
    status = process.exit_status
    return (f"exit status {status}" if status is not None else "no hello") + (
        f": {said[-1]}" if said else "")
