"""``env_deploy``, ``release_rollback`` and ``health_check`` (DESIGN.md §7).

A deploy builds a new immutable release (git or archive), switches ``current`` to it in
one rename and checks health; a failed check switches straight back to the release that
was serving, records the new one ``unhealthy`` and fails the job saying so. A rollback
switches to the newest healthy release before the current one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import Environment
from pressluft_core.services.environments import previous_healthy_release


async def _build(ctx: JobContext) -> None:
    """A failure here leaves the environment as it was (nothing switched): ``active``."""
    try:
        await _build_release(ctx)
    except JobFailure as exc:
        raise JobFailure(exc.code, f"{exc.message}; nothing was switched, the environment "
                         "still serves its current release", rolled_back=True) from None


async def _build_release(ctx: JobContext, plan_only: bool = False) -> dict[str, Any]:
    """Build the release from the payload's source (``plan_only``: build it aside, list
    what it would add, replace and keep, and discard it); the node's answer."""
    env = common.environment(ctx)
    if env.current_release_id is None:
        raise JobFailure("PRECONDITION", f"environment {env.slug} has no release to build on")
    release_id, name = common.planned_release(ctx)
    data = {**common.env_inputs(env), "release": name, "into": ctx.payload.get("into"),
            "allow_missing": bool(ctx.payload.get("allow_missing")), "plan_only": plan_only}
    if "git_url" in ctx.payload:
        data.update(repo=ctx.require("git_url"), ref=ctx.require("git_ref"))
        answer = await common.envctl(ctx, "release-from-git", data, retryable=True)
        if not plan_only:
            common.record_release(ctx, env, release_id, answer["path"], "git",
                                  f"{data['repo']}#{data['ref']}",
                                  notes=f"commit {answer['commit']}")
        return answer
    archive = Path(ctx.require("archive"))
    if not archive.is_file():
        raise JobFailure("PRECONDITION", f"the uploaded archive {archive} is gone")
    suffix = "".join(s for s in archive.suffixes[-2:] if s in (".tar", ".gz", ".zst",
                                                                ".tgz", ".zip"))
    session = await ctx.session()
    data["archive"] = await session.upload_helper(f"deploy-{ctx.job.id[:8]}{suffix}",
                                                  archive.read_bytes())
    answer = await common.envctl(ctx, "release-from-archive", data)
    if not plan_only:
        common.record_release(ctx, env, release_id, answer["path"], "upload",
                              str(ctx.payload.get("archive_name") or archive.name))
    return answer


async def _plan(ctx: JobContext) -> None:
    """What a deploy of this source would do, before the operator deploys it: the
    release is built aside and thrown away; nothing serves it."""
    plan = (await _build_release(ctx, plan_only=True)).get("plan", {})
    for kind in ("added", "replaced", "kept"):
        ctx.info(f"plan: {kind}: {', '.join(plan.get(kind, [])) or '-'}")
    for line in plan.get("missing", []):
        ctx.info(f"plan: a deploy would be refused: the release lacks {line}")


DEPLOY_PLAN = job_type(
    "deploy_plan",
    ("build the release aside and list what it adds, replaces and keeps", _plan),
    running_status=None,
    timeout_seconds=30 * 60,
)


async def _check_or_roll_back(ctx: JobContext) -> None:
    env = common.environment(ctx)
    healthy, summary = await common.health(ctx, env)
    common.set_health(ctx, ctx.state["release_id"], healthy)
    if healthy:
        ctx.info(f"healthy: {common.canonical_url(env)}")
        return
    ctx.info(f"health check failed ({summary}): rolling back")
    previous = await common.switch_back(ctx, env)
    raise JobFailure("HEALTH_CHECK_FAILED",
                     f"the new release failed its health check ({summary}); rolled back "
                     f"automatically to release {common.release_dir_name(previous)}, which is "
                     "serving again", rolled_back=True)


ENV_DEPLOY = job_type(
    "env_deploy",
    ("build the release", _build),
    ("switch current to the new release", common.switch_step),
    ("health check (rolls back when it fails)", _check_or_roll_back),
    running_status="deploying",
    timeout_seconds=60 * 60,
)


async def _switch_back(ctx: JobContext) -> None:
    env = common.environment(ctx)
    target = previous_healthy_release(env)
    if target is None:
        raise JobFailure("PRECONDITION", f"environment {env.slug} has no earlier healthy "
                                         "release")
    await common.switch_to(ctx, env, target)
    ctx.state["release_id"] = target.id
    ctx.info(f"current is release {common.release_dir_name(target)} again")


async def _check(ctx: JobContext) -> None:
    env = Environment.get_by_id(common.environment(ctx).id)
    release_id = ctx.state.get("release_id") or env.current_release_id
    switched = "release_id" in ctx.state  # a rollback switched; a check on demand did not
    healthy, summary = await common.health(ctx, env, rounds=2 if switched else 1)
    common.set_health(ctx, release_id, healthy)
    if not healthy:
        raise JobFailure("HEALTH_CHECK_FAILED", f"{common.canonical_url(env)}: {summary}")
    ctx.info(f"healthy: {common.canonical_url(env)}")


RELEASE_ROLLBACK = job_type(
    "release_rollback",
    ("switch current to the previous healthy release", _switch_back),
    ("health check", _check),
    running_status="deploying",
)

HEALTH_CHECK = job_type(
    "health_check",
    ("health check", _check),
    running_status=None,
    timeout_seconds=5 * 60,
)
