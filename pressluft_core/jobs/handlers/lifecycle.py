"""``env_delete`` and ``env_expiry``: an environment leaves its node after a full
backup (which stays restorable into the site's other environments); temporary clones do so
on their own once ``expires_at`` has passed."""

from __future__ import annotations

from pressluft_core.backups.archive import take_backup
from pressluft_core.clock import to_iso
from pressluft_core.db import write_transaction
from pressluft_core.errors import PressluftError
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.domains import configure, domainctl
from pressluft_core.jobs.registry import job_type
from pressluft_core.jobs.scheduler import PeriodicJob, hourly, periodic
from pressluft_core.models import Domain, Environment, Job
from pressluft_core.services.environments import queue_deletion


async def _backup_first(ctx: JobContext) -> None:
    env = common.environment(ctx)
    backup_id = ctx.payload.get("backup_id")
    if backup_id is None:
        ctx.info("no backup: the operator chose to delete without one (or nothing was "
                 "deployed yet)")
        return
    await take_backup(ctx, env, backup_id)


async def _remove_domains(ctx: JobContext) -> None:
    """Its custom domains go with it: their server blocks (the environment's domains file)
    and certificates leave the node, then their rows. Production never gets here."""
    env = common.environment(ctx)
    domains = list(Domain.select().where(Domain.environment_id == env.id))
    if not domains:
        ctx.info("no custom domains")
        return
    ctx.state["config"] = {"quarantine": False}  # nothing is served: no flags to keep
    await configure(ctx, env, serve=set(), redirect_to=env.preview_url.rstrip("/"), hosts=[])
    for domain in domains:
        await domainctl(ctx, "remove-cert", {"hostname": domain.hostname})
    with write_transaction(ctx.rt.db):
        Environment.update(primary_domain_id=None, state_version=Environment.state_version
                           + 1).where(Environment.id == env.id).execute()
        Domain.delete().where(Domain.environment_id == env.id).execute()
    ctx.info(f"domains removed: {', '.join(sorted(d.hostname for d in domains))}")


async def _remove(ctx: JobContext) -> None:
    env = common.environment(ctx)
    await common.envctl(ctx, "remove", common.env_inputs(env), retryable=True)


async def _forget(ctx: JobContext) -> None:
    env = common.environment(ctx)
    now = ctx.rt.now()
    with write_transaction(ctx.rt.db):
        Environment.update(deleted_at=now, slug=f"deleted-{env.id}", updated_at=now,
                           state_version=Environment.state_version + 1).where(
            Environment.id == env.id).execute()
    ctx.rt.secrets.delete(common.db_password_secret(env.id))
    ctx.info(f"environment {env.slug} deleted ({ctx.payload.get('reason', 'no reason')})")


ENV_DELETE = job_type(
    "env_delete",
    ("full backup first", common.leaves_environment_unchanged(_backup_first)),
    ("remove its custom domains and their certificates", _remove_domains),
    ("remove it from the node", _remove),
    ("forget it", _forget),
    timeout_seconds=12 * 60 * 60,
)


async def _expire(ctx: JobContext) -> None:
    now = to_iso(ctx.rt.clock.now())
    due = list(Environment.live().where(Environment.expires_at.is_null(False)
                                        & (Environment.expires_at <= now)))
    problems = []
    for env in due:
        if Job.select().where((Job.environment_id == env.id) & (Job.job_type == "env_delete")
                              & Job.status.in_(("queued", "running"))).exists():
            continue
        try:
            with write_transaction(ctx.rt.db):
                job = queue_deletion(ctx.rt, env, reason=f"expired at {env.expires_at}")
            ctx.info(f"{env.slug} expired at {env.expires_at}: env_delete {job.id[:8]} queued")
        except PressluftError as exc:
            problems.append(f"{env.slug}: {exc}")
    if problems:
        raise JobFailure("PRECONDITION", "expired environments kept: " + "; ".join(problems))
    ctx.info(f"{len(due)} environment(s) past their expiry")


ENV_EXPIRY = job_type("env_expiry", ("delete expired environments", _expire),
                      timeout_seconds=600)
periodic(PeriodicJob("hourly-env-expiry", "env_expiry", hourly))
