"""``site_import`` (DESIGN.md §7 Import, issue 8): a new site's production environment
made from an archive in the import format (a Pressluft backup imports as is).

The archive is streamed from its URL or path on the control host to the node into a
root-only staging directory and validated there before anything else changes; then the
environment is prepared, WordPress core laid down, the archive restored over it like a
backup (URLs rewritten from its source URL), and the site health-checked. Cutover is the
operator attaching the domain afterwards.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.certificates import ensure_preview_certificate
from pressluft_core.jobs.handlers.site_create import health_step
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import Release
from pressluft_core.services.settings import effective_value

CHUNK = 1 << 20


async def archive_chunks(source: str) -> AsyncIterator[bytes]:
    """The archive's bytes from a path on this machine or an http(s) URL, a chunk at a
    time (never whole in memory)."""
    if source.startswith(("http://", "https://")):
        response = await asyncio.to_thread(urllib.request.urlopen, source, timeout=60)
        try:
            while chunk := await asyncio.to_thread(response.read, CHUNK):
                yield chunk
        finally:
            response.close()
        return
    with open(source, "rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk


def _import_id(ctx: JobContext) -> str:
    return ctx.job.id[:8]


async def _stage(ctx: JobContext) -> None:
    source = ctx.require("source")
    if not source.startswith(("http://", "https://")) and not Path(source).is_file():
        raise JobFailure("PRECONDITION", f"the archive {source} is gone")
    session = await ctx.session()
    node = await session.upload_helper(common.NODE, common.HELPERS[common.NODE])
    said = bytearray()

    async def collect(chunk: bytes) -> None:
        said.extend(chunk[-65536:])

    try:
        status = await ctx.stream(["python3", node, "envctl", "import-stage",
                                   json.dumps({"import_id": _import_id(ctx)})],
                                  on_stdout=collect, stdin=archive_chunks(source))
    except OSError as exc:
        raise JobFailure("STEP_RETRYABLE", f"could not read {source}: {exc}") from None
    lines = said.decode(errors="replace").splitlines()
    for line in lines:
        if not line.startswith(common.RESULT_PREFIX):
            ctx.log.write("out", line)
    if status != 0:
        raise JobFailure("INVALID_PAYLOAD" if status == 2 else "COMMAND_FAILED",
                         f"the archive was refused on node {ctx.node().name} (see the "
                         "log for why); nothing was changed")
    info = next(json.loads(line[len(common.RESULT_PREFIX):]) for line in reversed(lines)
                if line.startswith(common.RESULT_PREFIX))
    ctx.state["import"] = info


async def _prepare(ctx: JobContext) -> None:
    env = common.environment(ctx)
    data = {**common.env_inputs(env), "db_password": common.ensure_db_password(ctx, env.id),
            "table_prefix": ctx.state["import"]["prefix"], "quarantine": False, "cron": True}
    await ensure_preview_certificate(ctx, env.preview_url)
    await common.envctl(ctx, "prepare", data, retryable=True)


async def _core(ctx: JobContext) -> None:
    """WordPress core as the first release: the archive's ``files/`` become a release on
    top of it (and an archive without ``files/`` runs on it)."""
    env = common.environment(ctx)
    name = common.planned_release(ctx)[1].rsplit("-", 1)[0] + "-c0000000"
    source = effective_value(ctx.rt, "wordpress_source")
    answer = await common.envctl(ctx, "core-release", {
        **common.env_inputs(env), "release": name, "wordpress_source": source})
    core_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"pressluft-import-core:{ctx.job.id}"))
    common.record_release(ctx, env, core_id, answer["path"], "upload",
                          f"wordpress core: {source}")
    await common.switch_to(ctx, env, Release.get_by_id(core_id))


async def _restore(ctx: JobContext) -> None:
    env = common.environment(ctx)
    release_id, name = common.planned_release(ctx)
    try:
        staged = await common.envctl(ctx, "import-apply", {
            **common.env_inputs(env), "import_id": _import_id(ctx), "release": name})
        flags = {"restore_id": _import_id(ctx), "db": staged["db"], "files": staged["files"]}
        await common.envctl(ctx, "restore-swap", {**common.env_inputs(env), **flags})
        if staged["files"]:
            source = ctx.state["import"]["source_url"]
            common.record_release(ctx, env, release_id,
                                  f"{common.env_inputs(env)['sites_root']}/{env.site_id}/"
                                  f"{env.id}/releases/{name}", "upload", f"import of {source}")
            await common.switch_to(ctx, common.environment(ctx))
        await common.envctl(ctx, "restore-finish", {**common.env_inputs(env), **flags})
    finally:
        await common.envctl(ctx, "import-cleanup", {"import_id": _import_id(ctx)})
    ctx.info(f"imported {ctx.state['import']['source_url']} as {common.canonical_url(env)}")


SITE_IMPORT = job_type(
    "site_import",
    ("stream the archive to the node and validate it", _stage),
    ("prepare user, PHP-FPM pool, database and nginx", _prepare),
    ("lay down WordPress core", _core),
    ("restore the archive (URLs rewritten)", _restore),
    ("health check", health_step),
    running_status="deploying",
    moves_site=True,
    timeout_seconds=6 * 60 * 60,
)
