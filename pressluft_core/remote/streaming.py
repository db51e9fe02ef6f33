"""Binary streams to and from one command on a node, for backups and restores: data that
must never pass through the line-based log, nor be held whole in memory.

Each stream is its own SSH exec (the agent multiplexes lines, not bulk bytes), wrapped like
a plain run so the command's process group id is known and a cancel, a failed consumer or
a timeout can kill the whole group on the node. Backpressure is SSH's own: the consumer is
awaited before the next chunk is read, so memory holds one chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import asyncssh

from pressluft_core.remote import execution as ex
from pressluft_core.remote.errors import ConnectionLost, RemoteCancelled

CHUNK = 1 << 20
ChunkSink = Callable[[bytes], Awaitable[None]]


async def stream_command(conn: asyncssh.SSHClientConnection, argv: Sequence[str],
                         prefix: list[str], where: str, *, on_stdout: ChunkSink | None = None,
                         stdin: AsyncIterator[bytes] | None = None,
                         on_stderr: Callable[[str], None] | None = None,
                         cancel: asyncio.Event | None = None) -> int:
    """Run ``argv``; stdout chunks go to ``on_stdout``, ``stdin`` chunks to its stdin,
    stderr lines to ``on_stderr``. Returns the exit status. An exception from either side
    (or ``cancel``) kills the remote process group before it propagates."""
    what = f"`{argv[0]}` on {where}"
    command = shlex.join(["exec", *prefix, "sh", "-c", ex._PGID_SCRIPT, "pressluft", *argv])
    try:
        process = await conn.create_process(command, encoding=None)
    except ex.CHANNEL_ERRORS as exc:
        raise ConnectionLost(f"could not start {what}: {exc}") from None
    pgid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read_stderr() -> None:
        first = True
        async for raw in ex.read_lines(process.stderr, ex.LINE_MAX):
            line = ex.decode_line(raw)
            if first and line.startswith(ex._PGID_MARK):
                pgid.set_result(int(line[len(ex._PGID_MARK):]))
            elif on_stderr is not None:
                on_stderr(line)
            first = False

    async def write_stdin() -> None:
        if stdin is not None:
            async for chunk in stdin:
                process.stdin.write(chunk)
                await process.stdin.drain()
        process.stdin.write_eof()

    async def read_stdout() -> None:
        while data := await process.stdout.read(CHUNK):
            if on_stdout is not None:
                await on_stdout(data)

    tasks = [asyncio.create_task(coro) for coro in (read_stderr(), write_stdin(),
                                                    read_stdout())]
    waiter = asyncio.create_task(cancel.wait()) if cancel is not None else None
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(
                pending | ({waiter} if waiter else set()), return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                raise RemoteCancelled(f"{what} was cancelled; its process group was killed")
            pending.discard(waiter)  # type: ignore[arg-type]
            for task in done:
                task.result()  # a failed side ends the stream
        with contextlib.suppress(*ex.CHANNEL_ERRORS):
            await process.wait_closed()
        status = process.returncode
        if status is None:
            raise ConnectionLost(f"lost the connection while running {what}")
        return status if status >= 0 else 128 - status
    except ex.CHANNEL_ERRORS as exc:
        await _kill(conn, process, pgid, prefix)
        raise ConnectionLost(f"lost the connection while running {what}: {exc}") from None
    except BaseException:
        await _kill(conn, process, pgid, prefix)
        raise
    finally:
        for task in (*tasks, waiter):
            if task is None:
                continue
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # the first failure was raised; the others are its echo


async def _kill(conn: asyncssh.SSHClientConnection, process: asyncssh.SSHClientProcess[bytes],
                pgid: asyncio.Future[int], prefix: list[str]) -> None:
    try:
        group = await asyncio.wait_for(asyncio.shield(pgid), ex.KILL_TIMEOUT)
        await asyncio.wait_for(conn.run(shlex.join(
            [*prefix, "env", "kill", "-s", "KILL", "--", f"-{group}"])), ex.KILL_TIMEOUT)
    except (*ex.CHANNEL_ERRORS, TimeoutError, asyncio.CancelledError):
        pass
    process.close()
