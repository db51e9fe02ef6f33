"""``env_move``: an environment moved to another node, URLs unchanged (issue 14).

The job's node is the target (where everything changes); the source is only read, the way
a backup reads it. The source's ``backup-stream`` is piped through the control plane into
the target's ``restore-stream`` (so nodes need not reach each other), staged beside a fresh
copy prepared on the target, swapped in there and health-checked over the target's own
nginx. Only then does the row switch nodes in one transaction; until that moment the
source serves as before and the environment's row is untouched, so a failure (a node that
vanished, an unhealthy copy) leaves nothing a retry cannot redo from the start. The old
copy stays on the source (``previous_node_id``) until ``env move-cleanup`` removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from pressluft_core.concurrency import update_versioned
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.certificates import ensure_preview_certificate
from pressluft_core.jobs.outcome import classify
from pressluft_core.jobs.registry import StepFunction, job_type
from pressluft_core.models import Domain, Environment, Node, Release
from pressluft_core.remote.errors import RemoteError

PIPE_CHUNKS = 16  # ~16 MiB in flight between the two nodes at most


def _environment(ctx: JobContext) -> Environment:
    env = Environment.get_or_none(Environment.id == ctx.job.environment_id)
    if env is None or env.deleted_at is not None:
        raise JobFailure("PRECONDITION", "the environment no longer exists")
    return env


def _source(ctx: JobContext) -> Node:
    node = Node.get_or_none(Node.id == ctx.require("from_node_id"))
    if node is None:
        raise JobFailure("PRECONDITION", "the node the environment is moved from no longer "
                                         "exists")
    return node


def _moved(ctx: JobContext, env: Environment) -> bool:
    """An earlier attempt already switched the row: only the report is left to do."""
    return env.node_id == ctx.job.node_id


async def _check(ctx: JobContext) -> None:
    env, source, target = _environment(ctx), _source(ctx), ctx.node()
    if _moved(ctx, env):
        ctx.info(f"{env.slug} already runs on {target.name} (switched by an earlier attempt)")
        return
    if env.node_id != source.id:
        raise JobFailure("PRECONDITION", f"{env.slug} is no longer on node {source.name}")
    if target.status != "active":
        raise JobFailure("PRECONDITION", f"node {target.name} is {target.status}: only an "
                         "active node takes environments (check or provision it first)")
    if env.current_release_id is None:
        raise JobFailure("PRECONDITION", f"{env.slug} has no release to move")
    for node, side in ((source, "source"), (target, "target")):
        await ctx.on_node(node.id).session()
        ctx.info(f"{side}: node {node.name} ({node.ssh_user}@{node.hostname}) answers")
    inspected = await common.envctl(ctx.on_node(source.id), "inspect",
                                    common.env_inputs(env, source))
    ctx.state["inspected"] = inspected


async def _prepare(ctx: JobContext) -> None:
    """User, pool, database, nginx block on the target, with the source's flags."""
    env, target = _environment(ctx), ctx.node()
    if _moved(ctx, env):
        return
    inspected = ctx.state["inspected"]
    await ensure_preview_certificate(ctx, env.preview_url)
    data = {**common.env_inputs(env, target),
            "db_password": common.ensure_db_password(ctx, env.id),
            "table_prefix": inspected["table_prefix"],
            "quarantine": bool(inspected.get("quarantine")),
            "cron": bool(inspected.get("cron", True))}
    await common.envctl(ctx, "prepare", data, retryable=True)


async def _stream(ctx: JobContext) -> None:
    env, source, target = _environment(ctx), _source(ctx), ctx.node()
    if _moved(ctx, env):
        return
    release_id, name = common.planned_release(ctx)
    await stream_copy(ctx, env, source, env, name)
    origin = Release.get_by_id(env.current_release_id)
    common.record_release(ctx, env, release_id,
                          f"{common.env_inputs(env, target)['sites_root']}/{env.site_id}/"
                          f"{env.id}/releases/{name}", origin.source_type, origin.source_ref,
                          notes=f"moved from node {source.name}")


async def stream_copy(ctx: JobContext, origin: Environment, source: Node, env: Environment,
                      release: str) -> None:
    """``origin`` on ``source`` copied beside ``env`` on the job's node, nothing live
    touched: two pipes through the control plane at once, the database (``dump-stream`` →
    ``restore-db-stream``: dump, transfer, SQL check, URL rewrite when the URLs differ and
    import overlap) and the files (``backup-stream`` of code, uploads and WordPress core →
    ``restore-stream``, unpacked as the environment's user). What an earlier attempt
    staged or swapped in on the target is dropped first."""
    target = ctx.node()
    inputs = common.env_inputs(env, target)
    await common.envctl(ctx, "restore-finish", {**inputs, "restore_id": ctx.job.id[:8]})
    read_side = ctx.on_node(source.id)
    reader, writer = await read_side.session(), await ctx.session()
    helpers = {n: await reader.upload_helper(n, c) for n, c in common.HELPERS.items()}
    targets = {n: await writer.upload_helper(n, c) for n, c in common.HELPERS.items()}
    origin_inputs = common.env_inputs(origin, source)
    staged = {**inputs, "restore_id": ctx.job.id[:8]}
    database = _Pipe(ctx, source, target, "database")
    files = _Pipe(ctx, source, target, "files")
    try:
        async with asyncio.TaskGroup() as pipes:
            pipes.create_task(database.run(
                ["python3", helpers[common.NODE], "envctl", "dump-stream",
                 json.dumps(origin_inputs)],
                ["python3", targets[common.NODE], "envctl", "restore-db-stream", json.dumps(
                    {**staged, "source_url": common.canonical_url(origin)})]))
            pipes.create_task(files.run(
                ["python3", helpers[common.NODE], "envctl", "backup-stream", json.dumps(
                    {**origin_inputs, "scope": "files", "backup_id": None, "with_core": True})],
                ["python3", targets[common.NODE], "envctl", "restore-stream", json.dumps(
                    {**staged, "release": release, "with_core": True, "files_only": True})]))
    except BaseExceptionGroup as failed:  # the first failure, as if it came alone
        raise failed.exceptions[0] from None
    ctx.info(f"streamed {database.moved / 2**20:.1f} MiB of database and "
             f"{files.moved / 2**20:.1f} MiB of files (compressed) from {source.name} to "
             f"{target.name}")


async def _going_away(ctx: JobContext, node: Node) -> bool:
    """Whether a stream's failure is its node vanishing (unreachable now, or its systemd
    shutting down, whose first act is to stop the commands): the job then fails as a lost
    connection, not as a failed command."""
    try:
        answer = await asyncio.wait_for(ctx.on_node(node.id).run(
            ["systemctl", "is-system-running"], sudo=False, ok_exit=range(256)), 15)
    except (RemoteError, JobFailure, TimeoutError):
        return True
    return "stopping" in answer.output_tail


class _Pipe:
    """One command's stdout on ``source`` into another's stdin on the job's node, through
    a bounded queue (memory stays flat whatever the size)."""

    def __init__(self, ctx: JobContext, source: Node, target: Node, what: str) -> None:
        self.ctx, self.source, self.target, self.what = ctx, source, target, what
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(PIPE_CHUNKS)
        self.moved = 0

    async def _send(self, chunk: bytes) -> None:
        await self.queue.put(chunk)
        self.moved += len(chunk)

    async def _chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.queue.get()) is not None:
            yield chunk

    async def _produce(self, argv: list[str]) -> int:
        try:
            status = await self.ctx.on_node(self.source.id).stream(argv, on_stdout=self._send)
        except BaseException:
            while not self.queue.empty():  # the target gets a truncated stream, and fails
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            raise
        await self.queue.put(None)
        return status

    async def run(self, read: list[str], write: list[str]) -> None:
        answer = bytearray()

        async def collect(chunk: bytes) -> None:
            answer.extend(chunk[-65536:])

        producing = asyncio.ensure_future(self._produce(read))
        try:
            staged = await self.ctx.stream(write, on_stdout=collect, stdin=self._chunks())
        except BaseException:
            producing.cancel()
            raise
        if not producing.done():  # the target stopped reading before the end
            producing.cancel()
        try:
            sent = await producing  # a source that vanished raises here: CONNECTION_LOST
        except asyncio.CancelledError:
            sent = -1
        for line in answer.decode(errors="replace").splitlines():
            if not line.startswith(common.RESULT_PREFIX):
                self.ctx.log.write("out", line)
        if sent != 0 or staged != 0:
            side, status = (self.target.name, staged) if staged != 0 else (
                self.source.name, sent)
            for node in (self.target, self.source):
                if await _going_away(self.ctx, node):
                    raise JobFailure("CONNECTION_LOST", f"node {node.name} went away while "
                                     f"the {self.what} streamed from {self.source.name} to "
                                     f"{self.target.name}; nothing live was changed")
            raise JobFailure("STEP_RETRYABLE", f"streaming the {self.what} from "
                             f"{self.source.name} to {self.target.name} failed on {side} "
                             f"(exit {status}); nothing live was changed")


async def _swap_and_check(ctx: JobContext) -> None:
    """Swap the staged copy in on the target, point ``current`` at it and health-check it
    there; an unhealthy copy is removed from the target and the move fails."""
    env, source, target = _environment(ctx), _source(ctx), ctx.node()
    if _moved(ctx, env):
        return
    inputs = common.env_inputs(env, target)
    flags = {"restore_id": ctx.job.id[:8], "db": True, "files": True}
    await common.envctl(ctx, "restore-swap", {**inputs, **flags})
    await common.envctl(ctx, "activate", {**inputs, "release": ctx.state["release_name"]})
    await common.envctl(ctx, "restore-finish", {**inputs, **flags})
    healthy, summary = await common.health(ctx, env, node=target)
    common.set_health(ctx, ctx.state["release_id"], healthy)
    if not healthy:
        await common.envctl(ctx, "remove", inputs, retryable=True)
        raise JobFailure("HEALTH_CHECK_FAILED", f"the copy on {target.name} failed its health "
                         f"check ({summary}) and was removed from it; {env.slug} still runs "
                         f"on {source.name}, unchanged", rolled_back=True)
    ctx.info(f"healthy on {target.name}: {summary}")


def _switch(ctx: JobContext) -> None:
    env, source, target = _environment(ctx), _source(ctx), ctx.node()
    if _moved(ctx, env):
        return
    with write_transaction(ctx.rt.db):
        update_versioned(Environment, env.id, env.state_version, ctx.rt.clock,
                         node_id=target.id, previous_node_id=source.id,
                         current_release_id=ctx.state["release_id"])
    ctx.info(f"{env.slug} now belongs to node {target.name}; the old copy stays on "
             f"{source.name} until `pressluft env move-cleanup` removes it")


async def _switch_step(ctx: JobContext) -> None:
    _switch(ctx)
    env, target = _environment(ctx), ctx.node()
    address = target.public_ip or target.hostname
    hosts = [d.hostname for d in Domain.select().where(Domain.environment_id == env.id)]
    for host in hosts or [common.url_host(env.preview_url)]:
        ctx.info(f"DNS (yours to change): point the A record of {host} at {address}")
    if ".sslip.io" in env.preview_url:
        ctx.info(f"the preview URL {env.preview_url} names the old node's address: "
                 "`pressluft env preview-url` gives it one on the new node")


def _tidy_when_giving_up(step: StepFunction) -> StepFunction:
    """A move that will not be tried again (its last attempt, or a failure the retry
    strategy does not retry) takes its unfinished copy off the target, so nothing is left
    there that no row points at. Best effort: a vanished target keeps what it has."""

    async def wrapped(ctx: JobContext) -> None:
        try:
            await step(ctx)
        except (JobFailure, RemoteError) as exc:
            code, _ = classify(exc, None)
            retried = ENV_MOVE.retry.decide(code, ctx.job.attempt_count,
                                            ctx.job.max_attempts, ctx.rt.clock.now()).retry
            env = _environment(ctx)
            if not retried and not _moved(ctx, env):
                with contextlib.suppress(JobFailure, RemoteError):
                    await common.envctl(ctx, "remove", common.env_inputs(env, ctx.node()))
                    ctx.info(f"the unfinished copy was removed from {ctx.node().name}")
            raise

    wrapped.__doc__ = step.__doc__
    return wrapped


ENV_MOVE = job_type(
    "env_move",
    ("check both nodes", _check),
    ("prepare the environment on the target", _tidy_when_giving_up(_prepare)),
    ("stream files and database to the target", _tidy_when_giving_up(_stream)),
    ("swap in and health-check on the target", _tidy_when_giving_up(_swap_and_check)),
    ("switch the environment to the target", _switch_step),
    timeout_seconds=12 * 60 * 60,
)


async def _cleanup(ctx: JobContext) -> None:
    env = _environment(ctx)
    if env.previous_node_id != ctx.job.node_id:
        ctx.info("no old copy left on this node")
        return
    if env.node_id == ctx.job.node_id:
        raise JobFailure("PRECONDITION", "the environment runs on this node: nothing to "
                                         "clean up")
    old = ctx.node()
    await common.envctl(ctx, "remove", common.env_inputs(env, old), retryable=True)
    with write_transaction(ctx.rt.db):
        fresh = Environment.get_by_id(env.id)
        update_versioned(Environment, env.id, fresh.state_version, ctx.rt.clock,
                         previous_node_id=None)
    ctx.info(f"the old copy of {env.slug} was removed from node {old.name}")


ENV_MOVE_CLEANUP = job_type("env_move_cleanup",
                            ("remove the old copy from the node it left", _cleanup),
                            timeout_seconds=60 * 60)
