"""``backup_verify`` (restore drill) and ``backup_schedule`` (DESIGN.md §7, issue 6).

A drill proves a backup restorable: it restores it into a throwaway environment on the
same node, checks health, and deletes the throwaway again whatever happened, recording
the verdict on the backup. ``backup_schedule`` runs hourly and queues what is due: daily
full backups at ``backup_hour`` (production by default, per-environment override) and a
weekly drill of production's latest backup on ``backup_verify_weekday``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from pressluft_core.backups.rows import new_backup_row
from pressluft_core.clock import to_iso
from pressluft_core.db import write_transaction
from pressluft_core.errors import PressluftError, ValidationError
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.backup import _backup, stage_backup, swap_in, verify_checksum
from pressluft_core.jobs.handlers.certificates import ensure_preview_certificate
from pressluft_core.jobs.registry import job_type
from pressluft_core.jobs.scheduler import PeriodicJob, hourly, periodic
from pressluft_core.models import Backup, Environment, Job, Node
from pressluft_core.preview import configured_preview_domain, preview_url
from pressluft_core.services import jobs
from pressluft_core.services.settings import effective_value


def _throwaway(ctx: JobContext, source: Environment) -> Environment:
    """The drill's environment row: its id derives from the job's, so a retry finds it."""
    env_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"pressluft-drill:{ctx.job.id}"))
    existing = Environment.get_or_none(Environment.id == env_id)
    if existing is not None:
        return existing
    node = Node.get_by_id(source.node_id)
    domain = effective_value(ctx.rt, "preview_domain")
    now = ctx.rt.now()
    with write_transaction(ctx.rt.db):
        Environment.insert(
            id=env_id, site_id=source.site_id, name=f"Restore drill {ctx.job.id[:8]}",
            slug=f"drill-{ctx.job.id[:8]}", environment_type="clone", status="restoring",
            node_id=node.id, source_environment_id=source.id,
            promotion_preset=source.promotion_preset,
            preview_url=preview_url(env_id, node, domain),
            drift_status="unknown", created_at=now, updated_at=now).execute()
    return Environment.get_by_id(env_id)


async def _drill(ctx: JobContext) -> None:
    backup = _backup(ctx)
    source = Environment.get_by_id(backup.environment_id)
    env = _throwaway(ctx, source)
    verdict = "unknown"
    try:
        inspected = await common.envctl(ctx, "inspect", common.env_inputs(source))
        data = {**common.env_inputs(env), "db_password": common.ensure_db_password(ctx, env.id),
                "table_prefix": inspected["table_prefix"], "quarantine": True, "cron": False}
        await ensure_preview_certificate(ctx, env.preview_url)
        await common.envctl(ctx, "prepare", data)
        # WordPress core first (the restore builds its release on the current one); its
        # name sorts just before the restored release's.
        core = common.planned_release(ctx)[1].rsplit("-", 1)[0] + "-00000000"
        await common.envctl(ctx, "core-release", {
            **common.env_inputs(env), "release": core,
            "wordpress_source": effective_value(ctx.rt, "wordpress_source")})
        await common.envctl(ctx, "activate", {**common.env_inputs(env), "release": core})
        await stage_backup(ctx, env, backup)
        await swap_in(ctx, env)
        healthy, summary = await common.health(ctx, env)
        verdict = "healthy" if healthy else f"unhealthy: {summary}"
    except JobFailure as exc:
        verdict = f"failed: {exc.message}"
        raise
    finally:
        with write_transaction(ctx.rt.db):
            Backup.update(verified_at=ctx.rt.now(), verify_result=verdict[:500]).where(
                Backup.id == backup.id).execute()
        await common.envctl(ctx, "remove", common.env_inputs(env))
        now = ctx.rt.now()
        with write_transaction(ctx.rt.db):
            Environment.update(deleted_at=now, status="active", slug=f"deleted-{env.id}",
                               updated_at=now).where(Environment.id == env.id).execute()
        ctx.rt.secrets.delete(common.db_password_secret(env.id))
        ctx.info(f"throwaway environment {env.slug} removed")
    if verdict != "healthy":
        raise JobFailure("HEALTH_CHECK_FAILED", f"backup {backup.id[:8]} did not restore "
                                                f"to a healthy site ({verdict})")
    ctx.info(f"backup {backup.id[:8]} is restorable: restored into a throwaway environment "
             "and healthy")


BACKUP_VERIFY = job_type(
    "backup_verify",
    ("verify the backup's checksum", lambda ctx: verify_checksum(ctx, _backup(ctx))),
    ("restore into a throwaway environment, check it, delete it", _drill),
    running_status=None,
    timeout_seconds=12 * 60 * 60,
)


def scheduled(env: Environment) -> bool:
    return (env.backup_schedule or ("daily" if env.environment_type == "production"
                                    else "off")) == "daily"


async def _schedule(ctx: JobContext) -> None:
    now = ctx.rt.clock.now()
    hour = int(effective_value(ctx.rt, "backup_hour") or 3)
    weekday = int(effective_value(ctx.rt, "backup_verify_weekday") or 6)
    if now.hour != hour and not ctx.payload.get("force"):
        ctx.info(f"nothing due: backups run at {hour:02d}:00 UTC")
        return
    since = to_iso(now - timedelta(hours=20))
    queued, problems = 0, []
    for env in Environment.live().where(Environment.status == "active"):
        if not scheduled(env) or env.current_release_id is None:
            continue
        if Backup.select().where((Backup.environment_id == env.id)
                                 & (Backup.created_at >= since)
                                 & (Backup.status != "failed")).exists():
            continue
        try:
            with write_transaction(ctx.rt.db):
                backup = new_backup_row(ctx.rt, env, "full")
                jobs.enqueue(ctx.rt, "backup_create", site_id=env.site_id,
                             environment_id=env.id, node_id=env.node_id,
                             payload={"backup_id": backup.id})
            queued += 1
        except PressluftError as exc:
            problems.append(f"{env.slug}: {exc}")
    if now.weekday() == weekday:
        try:
            configured_preview_domain()  # refused here as `backup verify` refuses it
            queued += _queue_drills(ctx, since)
        except ValidationError as exc:
            problems.append(f"restore drills: {exc}")
    ctx.info(f"{queued} scheduled job(s) queued")
    if problems:
        raise JobFailure("PRECONDITION", "scheduled jobs not queued: " + "; ".join(problems))


def _queue_drills(ctx: JobContext, since: str) -> int:
    queued = 0
    for env in Environment.live().where(Environment.environment_type == "production"):
        latest = Backup.select().where((Backup.environment_id == env.id)
                                       & (Backup.status == "completed")).order_by(
            Backup.created_at.desc()).first()
        if latest is None or (latest.verified_at or "") >= since:
            continue
        if Job.select().where((Job.job_type == "backup_verify")
                              & Job.status.in_(("queued", "running"))
                              & (Job.environment_id == env.id)).exists():
            continue
        with write_transaction(ctx.rt.db):
            jobs.enqueue(ctx.rt, "backup_verify", site_id=env.site_id, environment_id=env.id,
                         node_id=env.node_id, payload={"backup_id": latest.id})
        queued += 1
    return queued


BACKUP_SCHEDULE = job_type("backup_schedule", ("queue due backups and drills", _schedule),
                           timeout_seconds=600)
periodic(PeriodicJob("hourly-backup-schedule", "backup_schedule", hourly))
