"""``backup_cleanup``: backups past ``retention_until`` lose their object and become
``expired``. Run daily by the scheduler and on demand. An object is deleted before its
row says so, so a crash in between leaves a row that the next run finishes."""

from __future__ import annotations

import asyncio

from botocore.exceptions import BotoCoreError, ClientError

from pressluft_core.clock import to_iso
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.registry import job_type
from pressluft_core.jobs.scheduler import PeriodicJob, daily, periodic
from pressluft_core.models import Backup
from pressluft_core.services.storage import StorageConfig


def _expired(ctx: JobContext) -> list[Backup]:
    now = to_iso(ctx.rt.clock.now())
    return list(Backup.select().where((Backup.status == "completed")
                                      & (Backup.retention_until < now)))


async def _find(ctx: JobContext) -> None:
    due = _expired(ctx)
    ctx.info(f"{len(due)} backup(s) past their retention date")
    ctx.state["due"] = [b.id for b in due]


async def _delete(ctx: JobContext) -> None:
    due = ctx.state.get("due") or []
    if not due:
        return
    config = StorageConfig.from_settings(ctx.rt)
    client = await asyncio.to_thread(config.client)
    for backup in Backup.select().where(Backup.id.in_(due)):
        try:
            await asyncio.to_thread(client.delete_object, Bucket=config.bucket,
                                    Key=backup.storage_path)
        except (BotoCoreError, ClientError) as exc:
            raise JobFailure("STEP_RETRYABLE",
                             f"could not delete {backup.storage_path} from bucket "
                             f"{config.bucket}: {exc}") from None
        with write_transaction(ctx.rt.db):
            Backup.update(status="expired").where(
                (Backup.id == backup.id) & (Backup.status == "completed")).execute()
        ctx.info(f"expired backup {backup.id[:8]} ({backup.storage_path})")


BACKUP_CLEANUP = job_type("backup_cleanup", ("find expired backups", _find),
                          ("delete their objects", _delete), timeout_seconds=3600)
periodic(PeriodicJob("daily-backup-cleanup", "backup_cleanup", daily))
