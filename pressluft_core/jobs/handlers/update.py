"""``env_update`` (DESIGN.md §7 Updates): a database backup first, a new release copied
from the current one and updated by WordPress's own upgrader, a switch, a health check;
an unhealthy result switches back and restores the database from that backup."""

from __future__ import annotations

from pathlib import Path

from pressluft_core.backups.archive import take_backup
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.backup import stage_backup, swap_in
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import Backup


async def _backup_first(ctx: JobContext) -> None:
    await take_backup(ctx, common.environment(ctx), ctx.require("db_backup_id"))


async def _build(ctx: JobContext) -> None:
    env = common.environment(ctx)
    release_id, name = common.planned_release(ctx)
    session = await ctx.session()
    packages = []
    for number, package in enumerate(ctx.payload.get("packages") or []):
        local = Path(package["archive"])
        if not local.is_file():
            raise JobFailure("PRECONDITION", f"the uploaded package {local} is gone")
        path = await session.upload_helper(f"update-{ctx.job.id[:8]}-{number}.zip",
                                           local.read_bytes())
        packages.append({"type": package["type"], "path": path})
    scope = ctx.require("scope")
    answer = await common.envctl(ctx, "update-release", {
        **common.env_inputs(env), "release": name, "scope": scope, "packages": packages})
    names = ", ".join(package.get("name", "") for package in ctx.payload.get("packages") or [])
    common.record_release(ctx, env, release_id, answer["path"], "upload",
                          f"update {scope}" + (f": {names}" if names else ""),
                          notes="; ".join(answer.get("updated", [])) or "nothing to update")


async def _check_or_roll_back(ctx: JobContext) -> None:
    env = common.environment(ctx)
    healthy, summary = await common.health(ctx, env)
    common.set_health(ctx, ctx.state["release_id"], healthy)
    if healthy:
        ctx.info(f"updated and healthy: {common.canonical_url(env)}")
        return
    ctx.info(f"health check failed ({summary}): switching back and restoring the database")
    await common.switch_back(ctx, env)
    backup = Backup.get_by_id(ctx.require("db_backup_id"))
    await stage_backup(ctx, env, backup)
    await swap_in(ctx, common.environment(ctx))
    await common.envctl(ctx, "restore-finish", {**common.env_inputs(env),
                                                "restore_id": ctx.job.id[:8]})
    raise JobFailure("HEALTH_CHECK_FAILED", f"the updated site failed its health check "
                     f"({summary}); rolled back automatically: the previous release serves "
                     f"again and the database was restored from backup {backup.id[:8]}",
                     rolled_back=True)


ENV_UPDATE = job_type(
    "env_update",
    ("database backup first", common.leaves_environment_unchanged(_backup_first)),
    ("build the updated release", common.leaves_environment_unchanged(_build)),
    ("switch current to the updated release", common.switch_step),
    ("health check (rolls back release and database)", _check_or_roll_back),
    running_status="deploying",
    timeout_seconds=2 * 60 * 60,
)
