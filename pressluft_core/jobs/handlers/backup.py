"""``backup_create`` and ``env_restore`` (DESIGN.md §7).

A restore verifies the object's SHA-256 before it touches anything, takes a full
pre-restore backup of the target, stages the backup beside the live environment (scratch
database, new release, new uploads directory), swaps it in (one ``RENAME TABLE``), checks
health, and on failure swaps everything back and says so.
"""

from __future__ import annotations

import hashlib
import json

from pressluft_core.backups.archive import S3_ERRORS, human, take_backup
from pressluft_core.backups.multipart import read_object
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import Backup, Environment, Release
from pressluft_core.services.storage import StorageConfig


def _backup(ctx: JobContext, key: str = "backup_id") -> Backup:
    backup = Backup.get_or_none(Backup.id == ctx.require(key))
    if backup is None:
        raise JobFailure("PRECONDITION", f"backup {ctx.payload[key]} no longer exists")
    return backup


async def _create(ctx: JobContext) -> None:
    await take_backup(ctx, common.environment(ctx), _backup(ctx).id)


BACKUP_CREATE = job_type("backup_create", ("stream the archive to S3", _create),
                         running_status=None, timeout_seconds=12 * 60 * 60)


async def _verify(ctx: JobContext) -> None:
    await verify_checksum(ctx, _backup(ctx))


async def verify_checksum(ctx: JobContext, backup: Backup) -> None:
    """Read the whole object back and compare SHA-256 and size with the record."""
    if backup.status != "completed" or not backup.checksum:
        raise JobFailure("PRECONDITION", f"backup {backup.id[:8]} is {backup.status}, not "
                                         "completed: it cannot be restored")
    config = StorageConfig.from_settings(ctx.rt)
    client = config.client()
    digest, size = hashlib.sha256(), 0
    try:
        async for chunk in read_object(client, config.bucket, backup.storage_path):
            digest.update(chunk)
            size += len(chunk)
    except S3_ERRORS as exc:
        raise JobFailure("STEP_RETRYABLE", f"could not read {backup.storage_path} from "
                         f"{config.bucket}: {exc}") from None
    if digest.hexdigest() != backup.checksum or size != backup.size_bytes:
        raise JobFailure("BACKUP_CORRUPT", f"object {backup.storage_path} has SHA-256 "
                         f"{digest.hexdigest()[:16]}… and {size} bytes, but the backup "
                         f"recorded {backup.checksum[:16]}… and {backup.size_bytes} bytes: "
                         "refusing to restore; the target was not touched")
    ctx.info(f"checksum verified: {human(size)}, sha256 {backup.checksum[:16]}…")


async def _pre_restore_backup(ctx: JobContext) -> None:
    await take_backup(ctx, common.environment(ctx), _backup(ctx, "pre_restore_backup_id").id)


async def _stage(ctx: JobContext) -> None:
    await stage_backup(ctx, common.environment(ctx), _backup(ctx))


async def stage_backup(ctx: JobContext, env: Environment, backup: Backup) -> None:
    """Stream the backup into ``env``'s node beside the live site (``restore-stream``);
    sets ``staged_db``/``staged_files`` (and the new release) in ``ctx.state``."""
    release_id, name = common.planned_release(ctx)
    config = StorageConfig.from_settings(ctx.rt)
    client = config.client()
    session = await ctx.session()
    paths = {n: await session.upload_helper(n, c) for n, c in common.HELPERS.items()}
    data = {**common.env_inputs(env), "release": name, "restore_id": ctx.job.id[:8]}
    answer = bytearray()

    async def collect(chunk: bytes) -> None:
        answer.extend(chunk[-65536:])

    try:
        status = await ctx.stream(["python3", paths[common.NODE], "envctl", "restore-stream",
                                   json.dumps(data)], on_stdout=collect,
                                  stdin=read_object(client, config.bucket, backup.storage_path))
    except S3_ERRORS as exc:
        raise JobFailure("STEP_RETRYABLE", f"reading {backup.storage_path} failed: {exc}"
                         ) from None
    lines = answer.decode(errors="replace").splitlines()
    for line in lines:
        if not line.startswith(common.RESULT_PREFIX):
            ctx.log.write("out", line)
    if status != 0:
        raise JobFailure("COMMAND_FAILED" if status != 1 else "STEP_RETRYABLE",
                         f"staging the backup on node {ctx.node().name} failed (exit "
                         f"{status}); the live environment was not touched")
    result = next(json.loads(line[len(common.RESULT_PREFIX):]) for line in reversed(lines)
                  if line.startswith(common.RESULT_PREFIX))
    ctx.state.update(staged_db=result["db"], staged_files=result["files"])
    if result["files"]:
        common.record_release(ctx, env, release_id, f"{env_path(env)}/releases/{name}",
                              "upload", f"backup {backup.id}")


def env_path(env: Environment) -> str:
    data = common.env_inputs(env)
    return f"{data['sites_root']}/{env.site_id}/{env.id}"


async def _swap(ctx: JobContext) -> None:
    await swap_in(ctx, common.environment(ctx))


async def swap_in(ctx: JobContext, env: Environment) -> None:
    ctx.state["previous_release_id"] = env.current_release_id
    flags = {"restore_id": ctx.job.id[:8], "db": ctx.state["staged_db"],
             "files": ctx.state["staged_files"]}
    await common.envctl(ctx, "restore-swap", {**common.env_inputs(env), **flags})
    if ctx.state["staged_files"]:
        await common.envctl(ctx, "activate", {**common.env_inputs(env),
                                              "release": ctx.state["release_name"]})
        common.set_current_release(ctx, env.id, ctx.state["release_id"])


async def _check_or_undo(ctx: JobContext) -> None:
    env = common.environment(ctx)
    flags = {"restore_id": ctx.job.id[:8], "db": ctx.state["staged_db"],
             "files": ctx.state["staged_files"]}
    healthy, summary = await common.health(ctx, env)
    release_id = ctx.state.get("release_id") if ctx.state["staged_files"] else \
        env.current_release_id
    if healthy:
        if release_id:
            common.set_health(ctx, release_id, True)
        await common.envctl(ctx, "restore-finish", {**common.env_inputs(env), **flags})
        ctx.info(f"restored and healthy: {common.canonical_url(env)}")
        return
    ctx.info(f"health check failed ({summary}): putting the previous state back")
    await common.envctl(ctx, "restore-undo", {**common.env_inputs(env), **flags})
    previous = ctx.state.get("previous_release_id")
    if ctx.state["staged_files"] and previous:
        common.set_health(ctx, ctx.state["release_id"], False)
        old = Release.get_by_id(previous)
        await common.envctl(ctx, "activate", {**common.env_inputs(env),
                                              "release": old.path.rsplit("/", 1)[-1]})
        common.set_current_release(ctx, env.id, previous)
    raise JobFailure("HEALTH_CHECK_FAILED", f"the restored site failed its health check "
                     f"({summary}); tables, uploads and code were swapped back, the "
                     "environment serves what it served before", rolled_back=True)


ENV_RESTORE = job_type(
    "env_restore",
    ("verify the backup's checksum", common.leaves_environment_unchanged(_verify)),
    ("full backup of the target first",
     common.leaves_environment_unchanged(_pre_restore_backup)),
    ("stage the backup beside the live site", common.leaves_environment_unchanged(_stage)),
    ("swap it in", _swap),
    ("health check (swaps back when it fails)", _check_or_undo),
    running_status="restoring",
    timeout_seconds=12 * 60 * 60,
)
