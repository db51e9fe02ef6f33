"""``site_create``: a site's production environment on its node, from nothing to a
health-checked WordPress (DESIGN.md §6): Linux user, PHP-FPM pool, database, nginx block,
a first release of WordPress core, the install, the health check."""

from __future__ import annotations

import json
import re
import secrets

from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.certificates import ensure_preview_certificate
from pressluft_core.jobs.registry import job_type
from pressluft_core.services.settings import effective_value


async def _prepare(ctx: JobContext) -> None:
    env = common.environment(ctx)
    data = common.env_inputs(env)
    data.update(db_password=common.ensure_db_password(ctx, env.id), table_prefix="wp_",
                quarantine=False, cron=True)
    await ensure_preview_certificate(ctx, env.preview_url)
    await common.envctl(ctx, "prepare", data, retryable=True)


async def _core_release(ctx: JobContext) -> None:
    env = common.environment(ctx)
    release_id, name = common.planned_release(ctx)
    source = effective_value(ctx.rt, "wordpress_source")
    data = {**common.env_inputs(env), "release": name, "wordpress_source": source}
    answer = await common.envctl(ctx, "core-release", data, retryable=True)
    common.record_release(ctx, env, release_id, answer["path"], "upload",
                          f"wordpress core: {source}")


def admin_login(ctx: JobContext, environment_id: str, email: str) -> dict[str, str]:
    """The WordPress admin's name and password: made once, kept in the secrets store (the
    operator reads them with `pressluft env login`), never in the payload or the log."""
    name = common.admin_secret(environment_id)
    if not ctx.rt.secrets.exists(name):
        local = re.sub(r"[^a-z0-9_.-]", "", email.split("@", 1)[0].lower())[:40]
        login = {"user": local or "pressluft-admin", "password": secrets.token_urlsafe(18),
                 "email": email}
        ctx.rt.secrets.put(name, json.dumps(login))
    login = json.loads(ctx.secret(name))
    ctx.redact(login["password"])
    return login


async def _install(ctx: JobContext) -> None:
    env = common.environment(ctx)
    login = admin_login(ctx, env.id, ctx.require("admin_email"))
    data = {**common.env_inputs(env), "title": ctx.require("title"),
            "admin_user": login["user"], "admin_email": login["email"],
            "admin_password": login["password"]}
    await common.envctl(ctx, "install", data, retryable=True)
    ctx.info(f"WordPress admin user: {login['user']} (password in the secrets store: "
             "`pressluft env login`)")


async def health_step(ctx: JobContext) -> None:
    env = common.environment(ctx)
    healthy, summary = await common.health(ctx, env)
    common.set_health(ctx, ctx.state["release_id"], healthy)
    if not healthy:
        raise JobFailure("HEALTH_CHECK_FAILED", f"{env.preview_url}: {summary}")
    ctx.info(f"healthy: {env.preview_url}")


SITE_CREATE = job_type(
    "site_create",
    ("prepare user, PHP-FPM pool, database and nginx", _prepare),
    ("build the first release from WordPress core", _core_release),
    ("switch current to the release", common.switch_step),
    ("install WordPress", _install),
    ("health check", health_step),
    running_status="deploying",
    moves_site=True,
    timeout_seconds=20 * 60,
)
