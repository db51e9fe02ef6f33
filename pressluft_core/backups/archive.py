"""Taking a backup of one environment: its node streams the archive, the control plane
sends it on to S3 as a multipart upload, hashing as it goes. Used by ``backup_create``
and by every job that must take a backup first (restore, update, delete)."""

from __future__ import annotations

import asyncio
import json

from botocore.exceptions import BotoCoreError, ClientError

from pressluft_core.backups.multipart import MultipartUpload, part_size_for
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.models import Backup, Environment
from pressluft_core.remote.errors import RemoteError
from pressluft_core.services.storage import StorageConfig

S3_ERRORS = (BotoCoreError, ClientError)


def _set(ctx: JobContext, backup_id: str, **changes: object) -> None:
    with write_transaction(ctx.rt.db):
        Backup.update(**changes).where(Backup.id == backup_id).execute()


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"


async def take_backup(ctx: JobContext, env: Environment, backup_id: str) -> Backup:
    """Stream a backup of ``env`` into the row ``backup_id``'s object; ``completed`` only
    once the upload is whole and its checksum recorded. A failed attempt aborts its
    multipart upload and leaves the row ``failed`` (a retry sets it ``running`` again)."""
    backup = Backup.get_by_id(backup_id)
    if backup.status == "completed":
        ctx.info(f"backup {backup_id[:8]} already completed")
        return backup
    config = StorageConfig.from_settings(ctx.rt)
    client = await asyncio.to_thread(config.client)
    estimate = await common.envctl(ctx, "backup-estimate", common.env_inputs(env))
    total = int(estimate["db_bytes"]) + int(estimate["files_bytes"])
    part_size = part_size_for(total)
    ctx.info(f"backup {backup_id[:8]} ({backup.backup_scope}) of {env.slug}: about "
             f"{human(total)} before compression; parts of {human(part_size)}")
    _set(ctx, backup_id, status="running")
    upload = MultipartUpload(client, config.bucket, backup.storage_path, part_size)
    session = await ctx.session()
    paths = {name: await session.upload_helper(name, content)
             for name, content in common.HELPERS.items()}
    data = {**common.env_inputs(env), "scope": backup.backup_scope, "backup_id": backup_id}
    last_report = [0]

    async def send(chunk: bytes) -> None:
        await upload.write(chunk)
        if upload.size - last_report[0] >= 32 * 2**20:
            last_report[0] = upload.size
            ctx.progress(f"{human(upload.size)} sent")

    try:
        for stale in await upload.start():
            ctx.info(f"aborted an incomplete upload left by an earlier attempt ({stale[:12]}…)")
        status = await ctx.stream(["python3", paths[common.NODE], "envctl", "backup-stream",
                                   json.dumps(data)], on_stdout=send)
        if status != 0:
            raise JobFailure("STEP_RETRYABLE", f"the backup stream on node "
                             f"{ctx.node().name} exited with status {status}")
        checksum, size = await upload.finish()
    except S3_ERRORS as exc:
        await _abort(ctx, upload, backup_id)
        raise JobFailure("STEP_RETRYABLE", f"S3 upload to {config.bucket}/"
                         f"{backup.storage_path} failed: {exc}") from None
    except (JobFailure, RemoteError, OSError, ValueError, asyncio.CancelledError):
        await _abort(ctx, upload, backup_id)
        raise
    _set(ctx, backup_id, status="completed", checksum=checksum, size_bytes=size,
         completed_at=ctx.rt.now())
    ctx.info(f"backup {backup_id[:8]} completed: {human(size)}, sha256 {checksum[:16]}…")
    return Backup.get_by_id(backup_id)


async def _abort(ctx: JobContext, upload: MultipartUpload, backup_id: str) -> None:
    _set(ctx, backup_id, status="failed")
    try:
        await upload.abort()
        ctx.info("incomplete multipart upload aborted")
    except S3_ERRORS as exc:
        ctx.info(f"could not abort the multipart upload ({exc}); the bucket's lifecycle "
                 "rule for incomplete uploads must remove it")
