"""``drift_check`` and ``env_promote`` (DESIGN.md §7, issue 7).

A drift check compares production now with the baseline taken when the environment being
promoted was cloned. A promotion copies that environment's code as a new production
release and every table outside the preset into production, swapped in with one
``RENAME TABLE``; protected tables and paths are never touched; an unhealthy result puts
tables and release back at once. Production serves throughout: no maintenance mode.
"""

from __future__ import annotations

import json

from pressluft_core.backups.archive import take_backup
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.env_create import record_drift_check
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import DriftCheck, Environment, Release, Site
from pressluft_core.services.promotion import check_is_usable
from pressluft_core.wordpress.drift import compare
from pressluft_core.wordpress.presets import PROTECTED_PATHS, protected_tables


def production_of(env: Environment) -> Environment:
    site = Site.get_by_id(env.site_id)
    prod = Environment.get_or_none(Environment.id == site.primary_environment_id)
    if prod is None or prod.deleted_at is not None:
        raise JobFailure("PRECONDITION", f"site {site.slug} has no production environment")
    return prod


def baseline_of(env: Environment) -> DriftCheck:
    """The row ``env_create`` wrote at clone time (marked ``baseline`` in its JSON)."""
    first = None
    for check in DriftCheck.select().where(DriftCheck.environment_id == env.id).order_by(
            DriftCheck.checked_at):
        if json.loads(check.db_checksums_json or "{}").get("baseline"):
            first = check
            break
    if first is None:
        raise JobFailure("PRECONDITION", f"environment {env.slug} has no drift baseline "
                                         "(it was not cloned by Pressluft)")
    return first


def checksums_of(check: DriftCheck) -> dict[str, object]:
    db = json.loads(check.db_checksums_json or "{}")
    return {"tables": db.get("tables", {}), "others": db.get("others", {}),
            "paths": json.loads(check.file_checksums_json or "{}")}


async def _checksum(ctx: JobContext) -> None:
    env = common.environment(ctx)
    prod = production_of(env)
    baseline = checksums_of(baseline_of(env))
    ctx.state["now"] = await common.envctl(ctx, "checksums", {
        **common.env_inputs(prod), "tables": list(protected_tables(env.promotion_preset)),
        "all_tables": True, "paths": list(PROTECTED_PATHS), "known_files": baseline["paths"]})
    source = await common.envctl(ctx, "checksums", {**common.env_inputs(env), "tables": []})
    ctx.state["source_tables"] = source["all"]


async def _compare(ctx: JobContext) -> None:
    env = common.environment(ctx)
    report = compare(checksums_of(baseline_of(env)), ctx.state["now"])
    record_drift_check(ctx, env, report.status, ctx.state["now"], report.as_dict(),
                       ctx.state["source_tables"])
    for line in report.lines():
        ctx.info(line)
    ctx.info(f"drift status of {env.slug}: {report.status}")


DRIFT_CHECK = job_type(
    "drift_check",
    ("checksum production's tables and protected paths", _checksum),
    ("compare with the baseline", _compare),
    running_status=None,
    timeout_seconds=60 * 60,
)


def _source(ctx: JobContext) -> Environment:
    source = Environment.get_or_none(Environment.id == ctx.require("source_environment_id"))
    if source is None or source.deleted_at is not None or source.current_release_id is None:
        raise JobFailure("PRECONDITION", "the environment to promote no longer exists or "
                                         "has no release")
    return source


async def _gate(ctx: JobContext) -> None:
    source = _source(ctx)
    check = DriftCheck.get_or_none(DriftCheck.id == ctx.require("drift_check_id"))
    check_is_usable(check, source, ctx.rt.clock.now(), bool(ctx.payload.get("override")))
    if ctx.payload.get("override") and check is not None and check.status == "drifted":
        ctx.info(f"drifted production: promotion confirmed by the operator (drift check "
                 f"{check.id})")


async def _backup(ctx: JobContext) -> None:
    if ctx.payload.get("backup_id"):
        await take_backup(ctx, common.environment(ctx), ctx.payload["backup_id"])
    else:
        ctx.info(f"production backup {ctx.payload.get('fresh_backup_id', '')[:8]} is newer "
                 "than the drift check: no new one needed")


async def _code(ctx: JobContext) -> None:
    prod, source = common.environment(ctx), _source(ctx)
    release_id, name = common.planned_release(ctx)
    answer = await common.envctl(ctx, "release-from-env", {
        **common.env_inputs(prod), "source": common.env_inputs(source), "release": name})
    origin = Release.get_by_id(source.current_release_id)
    common.record_release(ctx, prod, release_id, answer["path"], origin.source_type,
                          origin.source_ref, notes=f"promoted from {source.slug} release "
                                                   f"{origin.path.rsplit('/', 1)[-1]}")


async def _tables(ctx: JobContext) -> None:
    prod, source = common.environment(ctx), _source(ctx)
    answer = await common.envctl(ctx, "checksums", {**common.env_inputs(source), "tables": []})
    prefix = answer["prefix"]
    protected = {prefix + name for name in protected_tables(source.promotion_preset)}
    copied = [t for t in answer["all"] if t not in protected]
    ctx.info(f"copying {len(copied)} tables; protected and kept: "
             f"{', '.join(sorted(t for t in answer['all'] if t in protected)) or 'none'}")
    await common.envctl(ctx, "promote-tables", {
        **common.env_inputs(prod), "source": common.env_inputs(source), "tables": copied,
        "promote_id": ctx.job.id[:8],
        "replacements": [[common.canonical_url(source), common.canonical_url(prod)]]})


async def _swap(ctx: JobContext) -> None:
    prod = common.environment(ctx)
    ctx.state["previous_release_id"] = prod.current_release_id
    answer = await common.envctl(ctx, "promote-swap", {**common.env_inputs(prod),
                                                       "promote_id": ctx.job.id[:8]})
    ctx.state["added"] = answer["added"]
    await common.envctl(ctx, "activate", {**common.env_inputs(prod),
                                          "release": ctx.state["release_name"]})
    common.set_current_release(ctx, prod.id, ctx.state["release_id"])


async def _check(ctx: JobContext) -> None:
    prod = common.environment(ctx)
    flags = {"promote_id": ctx.job.id[:8], "restore_id": ctx.job.id[:8]}
    healthy, summary = await common.health(ctx, prod)
    common.set_health(ctx, ctx.state["release_id"], healthy)
    if healthy:
        await common.envctl(ctx, "restore-finish", {**common.env_inputs(prod), **flags})
        ctx.info(f"promoted and healthy: {common.canonical_url(prod)}")
        return
    previous = Release.get_by_id(ctx.state["previous_release_id"])
    ctx.info(f"health check failed ({summary}): swapping tables and release back")
    await common.envctl(ctx, "promote-undo", {**common.env_inputs(prod), **flags,
                                              "added": ctx.state.get("added", [])})
    await common.envctl(ctx, "activate", {**common.env_inputs(prod),
                                          "release": previous.path.rsplit("/", 1)[-1]})
    common.set_current_release(ctx, prod.id, previous.id)
    raise JobFailure("HEALTH_CHECK_FAILED", f"production failed its health check after the "
                     f"promotion ({summary}); tables and release were swapped back at once, "
                     "production is as it was before", rolled_back=True)


ENV_PROMOTE = job_type(
    "env_promote",
    ("check the drift check", common.leaves_environment_unchanged(_gate)),
    ("full production backup", common.leaves_environment_unchanged(_backup)),
    ("copy code as a new production release", common.leaves_environment_unchanged(_code)),
    ("copy the unprotected tables beside production",
     common.leaves_environment_unchanged(_tables)),
    ("swap tables and release in", _swap),
    ("health check (swaps back when it fails)", _check),
    running_status="deploying",
    timeout_seconds=4 * 60 * 60,
)
