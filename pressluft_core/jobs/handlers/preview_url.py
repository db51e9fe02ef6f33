"""``env_preview_url`` (``pressluft env regenerate-preview-url``): an existing environment
moves to the preview URL the current settings give — after ``preview_domain`` was set (or
changed, or unset) its older environments keep their URL until moved.

Done like a primary-domain switch (``domains.py``), so a failure puts everything back: when
WordPress answers on the preview URL, the database is rewritten into a scratch copy (serialized-
safe) and swapped in with one ``RENAME TABLE``, ``wp-config.php`` and the preview server
block follow, the new URL is health-checked, and only then is the old database dropped and
``environments.preview_url`` changed. When a primary domain serves WordPress, only the
preview server block moves (WordPress's URL stays the domain's).
"""

from __future__ import annotations

from pressluft_core.concurrency import update_versioned
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.certificates import ensure_preview_certificate
from pressluft_core.jobs.handlers.domains import (
    configure,
    health_at,
    prepare_url,
    serving,
    swap_in_rewritten_database,
)
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import Domain, Environment


def _new_preview(ctx: JobContext) -> str:
    return str(ctx.require("preview_url"))


async def _certificate(ctx: JobContext) -> None:
    new = _new_preview(ctx)
    if common.preview_tls_cert(new) is None:
        ctx.info(f"{new} is plain http: no certificate needed")
        return
    try:
        await ensure_preview_certificate(ctx, new)
    except JobFailure as exc:  # nothing was changed yet: the environment stays as it was
        raise JobFailure(exc.code, f"{exc.message} (the environment was not changed)",
                         rolled_back=True) from None


async def _move(ctx: JobContext) -> None:
    env = common.environment(ctx)
    new_preview, old_preview = _new_preview(ctx), env.preview_url
    swap = {"restore_id": ctx.job.id[:8], "db": True, "files": False}
    # An earlier attempt may have stopped with the rewritten tables swapped in.
    await common.envctl(ctx, "restore-undo", {**common.env_inputs(env), **swap})
    old_url = common.canonical_url(env)
    moves_wordpress = old_url == old_preview.rstrip("/") and old_preview != new_preview
    new_url = new_preview.rstrip("/") if moves_wordpress else old_url
    if moves_wordpress:
        ctx.info(f"moving WordPress from {old_url} to {new_url}")
        await swap_in_rewritten_database(ctx, env, old_url, new_url, swap)
    else:
        ctx.info(f"WordPress stays on {old_url}; the preview server block moves to "
                 f"{new_preview}")
    try:
        await prepare_url(ctx, env, new_url, preview_url=new_preview)
        healthy, summary = await health_at(ctx, env, new_url)
    except JobFailure as exc:
        healthy, summary = False, exc.message
    if not healthy:
        ctx.info(f"health check of {new_url} failed ({summary}): moving back to {old_url}")
        if moves_wordpress:
            await common.envctl(ctx, "restore-undo", {**common.env_inputs(env), **swap})
        await prepare_url(ctx, env, old_url, preview_url=old_preview)
        raise JobFailure("HEALTH_CHECK_FAILED",
                         f"WordPress was not healthy on {new_url} ({summary}); moved back to "
                         f"{old_url}, which is serving again", rolled_back=True)
    if moves_wordpress:
        await common.envctl(ctx, "restore-finish", {**common.env_inputs(env), **swap})
    with write_transaction(ctx.rt.db):
        fresh = Environment.get_by_id(env.id)
        update_versioned(Environment, env.id, fresh.state_version, ctx.rt.clock,
                         preview_url=new_preview)
    env = Environment.get_by_id(env.id)
    if Domain.select().where(Domain.environment_id == env.id).exists():
        await configure(ctx, env, serve=serving(env), redirect_to=common.canonical_url(env))
    ctx.info(f"preview URL is now {new_preview} (was {old_preview})")


ENV_PREVIEW_URL = job_type(
    "env_preview_url",
    ("get the wildcard certificate of the new preview URL (https only)", _certificate),
    ("move to the new preview URL (URL rewrite when WordPress answers on it; health check, "
     "moved back when it fails)", _move),
    running_status="deploying",
    timeout_seconds=2 * 60 * 60,
)
