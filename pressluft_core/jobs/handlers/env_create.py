"""``env_create``: clone an environment into a new staging or clone environment on the
same node (DESIGN.md §7): its own user, pool, database and nginx block; code, uploads and
database copied with URLs rewritten; quarantined unless asked otherwise; the drift
baseline (the source's protected tables and paths at clone time) recorded."""

from __future__ import annotations

import asyncio
import contextlib
import json

from pressluft_core.clock import new_id
from pressluft_core.concurrency import update_versioned
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.certificates import ensure_preview_certificate
from pressluft_core.jobs.handlers.env_move import stream_copy
from pressluft_core.jobs.handlers.site_create import health_step
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import DriftCheck, Environment, Node, Release
from pressluft_core.wordpress.presets import PROTECTED_PATHS, protected_tables

AUTO_INCREMENT_OFFSET = 10_000_000


def _source(ctx: JobContext) -> Environment:
    source = Environment.get_or_none(Environment.id == ctx.require("source_environment_id"))
    if source is None or source.current_release_id is None:
        raise JobFailure("PRECONDITION", "the source environment no longer exists or has "
                                         "no release")
    return source


async def _prepare(ctx: JobContext) -> None:
    env, source = common.environment(ctx), _source(ctx)
    inspected = await common.envctl(ctx.on_node(source.node_id), "inspect",
                                    common.env_inputs(source))
    quarantine = bool(ctx.payload.get("quarantine", True))
    data = {**common.env_inputs(env), "db_password": common.ensure_db_password(ctx, env.id),
            "table_prefix": inspected["table_prefix"], "quarantine": quarantine,
            "cron": bool(ctx.payload.get("cron", not quarantine))}
    await ensure_preview_certificate(ctx, env.preview_url)
    await common.envctl(ctx, "prepare", data, retryable=True)
    if quarantine:
        ctx.info("quarantined: mail captured in mail/, search engines discouraged, WP-Cron "
                 + ("on" if data["cron"] else "off"))


async def _baseline(ctx: JobContext) -> None:
    env, source = common.environment(ctx), _source(ctx)
    answer = await common.envctl(ctx.on_node(source.node_id), "checksums", {
        **common.env_inputs(source), "tables": list(protected_tables(env.promotion_preset)),
        "all_tables": True, "paths": list(PROTECTED_PATHS)})
    record_drift_check(ctx, env, "clean", answer, report=None)
    ctx.info(f"drift baseline: {len(answer['tables'])} protected tables, "
             f"{len(answer['others'])} others and "
             f"{sum(len(m) for m in answer['paths'].values())} files of {source.slug}")


def record_drift_check(ctx: JobContext, env: Environment, status: str,
                       answer: dict[str, object], report: dict[str, object] | None,
                       source_tables: list[str] | None = None) -> str:
    """An immutable ``drift_checks`` row (the first one of an environment is its
    baseline), and the environment's drift fields pointing at it."""
    now = ctx.rt.now()
    check_id = new_id()
    db = {"tables": answer["tables"], "others": answer["others"], "report": report,
          "source_tables": source_tables, "prefix": answer.get("prefix"),
          "baseline": report is None}
    with write_transaction(ctx.rt.db):
        DriftCheck.insert(id=check_id, environment_id=env.id,
                          promotion_preset=env.promotion_preset, status=status,
                          db_checksums_json=json.dumps(db, sort_keys=True),
                          file_checksums_json=json.dumps(answer["paths"], sort_keys=True),
                          checked_at=now).execute()
        fresh = Environment.get_by_id(env.id)
        update_versioned(Environment, env.id, fresh.state_version, ctx.rt.clock,
                         drift_status=status, drift_checked_at=now,
                         last_drift_check_id=check_id)
    return check_id


async def _baseline_and_copy(ctx: JobContext) -> None:
    """The drift baseline is read from the source while the copy is made, not before it:
    both only read the source, and the copy's own snapshot of it (one instant under its
    table lock) is as near to the baseline's reading as it was when the baseline came
    first. A failed copy cancels a baseline still being read; one already recorded stays,
    as it did before, and a retry records a newer one."""
    baseline = asyncio.create_task(_baseline(ctx))
    try:
        await _copy(ctx)
    except BaseException:
        baseline.cancel()
        with contextlib.suppress(asyncio.CancelledError, JobFailure):
            await baseline
        raise
    await baseline


async def _copy(ctx: JobContext) -> None:
    env, source = common.environment(ctx), _source(ctx)
    release_id, name = common.planned_release(ctx)
    if source.node_id != env.node_id:
        await _copy_across(ctx, env, source, release_id, name)
        return
    data = {**common.env_inputs(env), "source": common.env_inputs(source), "release": name,
            "replacements": [[common.canonical_url(source), common.canonical_url(env)]],
            "auto_increment_offset": AUTO_INCREMENT_OFFSET,
            "quarantine": bool(ctx.payload.get("quarantine", True))}
    answer = await common.envctl(ctx, "clone", data, retryable=True)
    origin = Release.get_by_id(source.current_release_id)
    common.record_release(ctx, env, release_id, answer["path"], origin.source_type,
                          origin.source_ref, notes=f"cloned from {source.slug} release "
                                                   f"{origin.path.rsplit('/', 1)[-1]}")


async def _copy_across(ctx: JobContext, env: Environment, source: Environment,
                       release_id: str, name: str) -> None:
    """A clone on another node: the source streamed over (as a move does, URLs rewritten
    by the target's restore), swapped into the still empty environment, then the same
    AUTO_INCREMENT raise and quarantine as a clone on the source's own node."""
    node = Node.get_by_id(source.node_id)
    await stream_copy(ctx, source, node, env, name)
    flags = {"restore_id": ctx.job.id[:8], "db": True, "files": True}
    inputs = common.env_inputs(env)
    await common.envctl(ctx, "restore-swap", {**inputs, **flags})
    await common.envctl(ctx, "restore-finish", {**inputs, **flags})
    await common.envctl(ctx, "clone-finish", {
        **inputs, "auto_increment_offset": AUTO_INCREMENT_OFFSET,
        "quarantine": bool(ctx.payload.get("quarantine", True))})
    origin = Release.get_by_id(source.current_release_id)
    common.record_release(ctx, env, release_id, f"{inputs['sites_root']}/{env.site_id}/"
                          f"{env.id}/releases/{name}", origin.source_type, origin.source_ref,
                          notes=f"cloned from {source.slug} on node {node.name}")


ENV_CREATE = job_type(
    "env_create",
    ("prepare user, PHP-FPM pool, database and nginx", _prepare),
    ("copy code, uploads and database (URLs rewritten), record the drift baseline",
     _baseline_and_copy),
    ("switch current to the release", common.switch_step),
    ("health check", health_step),
    running_status="cloning",
    timeout_seconds=2 * 60 * 60,
)
