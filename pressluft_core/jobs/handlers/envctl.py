"""What the WordPress job types share: the node-side ``envctl`` call, the names an
environment gets on its node, releases, and the health check.

Every change on a node goes through envctl (in the node zipapp, :mod:`pressluft_core.node.ctl`)
with its inputs as JSON on stdin; it is idempotent, so a retried step finds finished work
and moves on.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from pressluft_core.concurrency import update_versioned
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.registry import StepFunction
from pressluft_core.models import Domain, Environment, Node, Release
from pressluft_core.node import bundle
from pressluft_core.services.settings import effective_value

NODE_DIR = Path(__file__).resolve().parent.parent.parent / "node"
NODE = bundle.NAME  # envctl, domainctl, the replacer and sqlguard: ``python3 <it> TOOL …``
HELPERS = {
    NODE: bundle.archive(),
    "wp_helper.php": (NODE_DIR / "wp_helper.php").read_bytes(),
}
RESULT_PREFIX = "result: "
RESULT_FILE_PREFIX = "result-file: "


def node_names(environment_id: str) -> str:
    """The environment's Linux user, database and database user: ``wp`` + 12 hex digits of
    its id (short enough for every limit: Linux 32, MariaDB 64/80)."""
    return "wp" + environment_id.replace("-", "")[:12]


def db_password_secret(environment_id: str) -> str:
    return f"env.{environment_id}.db_password"


def admin_secret(environment_id: str) -> str:
    return f"env.{environment_id}.wp_admin"


def ensure_db_password(ctx: JobContext, environment_id: str) -> str:
    name = db_password_secret(environment_id)
    if not ctx.rt.secrets.exists(name):
        ctx.rt.secrets.put(name, secrets.token_urlsafe(24))
    return ctx.secret(name)


def canonical_url(env: Environment) -> str:
    """The URL WordPress answers on: ``https://<primary domain>`` once the environment has a
    primary domain with an active certificate, else the preview URL."""
    if env.primary_domain_id:
        domain = Domain.get_or_none(Domain.id == env.primary_domain_id)
        if domain is not None and domain.tls_status == "active":
            return f"https://{domain.hostname}"
    return env.preview_url.rstrip("/")


def url_host(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]


def preview_tls_cert(preview_url: str) -> str | None:
    """The certificate an https preview URL (``https://<8>.<preview domain>``) is served
    with: the node's wildcard ``wildcard.<preview domain>``; None for http ones."""
    if not preview_url.startswith("https://"):
        return None
    return "wildcard." + url_host(preview_url).split(".", 1)[1]


def env_inputs(env: Environment, node: Node | None = None) -> dict[str, Any]:
    node = node or Node.get_by_id(env.node_id)
    url = canonical_url(env)
    return {
        "sites_root": node.sites_root, "site_id": env.site_id, "environment_id": env.id,
        "user": node_names(env.id), "db_name": node_names(env.id),
        "server_name": url_host(url), "url": url,
        "tls_cert": preview_tls_cert(env.preview_url),
        "wp_environment": "production" if env.environment_type == "production" else "staging",
    }


def environment(ctx: JobContext) -> Environment:
    """The job's environment, on the job's node: a job queued before the environment was
    moved to another node must not run its commands on the old one."""
    env = Environment.get_or_none(Environment.id == ctx.job.environment_id)
    if env is None:
        raise JobFailure("PRECONDITION", f"environment {ctx.job.environment_id} no longer "
                                         "exists")
    if ctx.job.node_id and env.node_id != ctx.job.node_id:
        node = Node.get_or_none(Node.id == env.node_id)
        raise JobFailure("PRECONDITION", f"environment {env.slug} moved to node "
                         f"{node.name if node else env.node_id} after this job was queued; "
                         "queue it again")
    return env


async def envctl(ctx: JobContext, command: str, data: dict[str, Any],
                 *, retryable: bool = False) -> dict[str, Any]:
    """Run one ``envctl`` command on the job's node; its ``result:`` line, parsed.
    Exit 2 is bad input (never retried); exit 1 fails the step."""
    session = await ctx.session()
    paths = {name: await session.upload_helper(name, content)
             for name, content in HELPERS.items()}
    data = {**data, "wp_helper": paths["wp_helper.php"]}
    result = await ctx.run(["python3", paths[NODE], "envctl", command],
                           input=json.dumps(data).encode(), sudo=True, ok_exit=(0, 1, 2))
    lines = result.output_tail.splitlines()
    if result.exit_status != 0:
        errors = [line for line in lines if line.startswith("envctl: ")]
        why = errors[-1][len("envctl: "):] if errors else f"exit status {result.exit_status}"
        code = "STEP_RETRYABLE" if retryable and result.exit_status == 1 else (
            "INVALID_PAYLOAD" if result.exit_status == 2 else "COMMAND_FAILED")
        raise JobFailure(code, f"{command} on node {ctx.node().name}: {why}")
    for line in reversed(lines):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
        if line.startswith(RESULT_FILE_PREFIX):
            return await _take_result(ctx, paths[NODE], line[len(RESULT_FILE_PREFIX):])
    raise JobFailure("COMMAND_FAILED", f"{command} on node {ctx.node().name} gave no result")


async def _take_result(ctx: JobContext, node_path: str, path: str) -> dict[str, Any]:
    """A large answer (an upload manifest) fetched as bytes, kept out of the log."""
    answer = bytearray()

    async def keep(chunk: bytes) -> None:
        answer.extend(chunk)

    status = await ctx.stream(["python3", node_path, "envctl", "take-result",
                               json.dumps({"path": path.strip()})], on_stdout=keep)
    if status != 0:
        raise JobFailure("COMMAND_FAILED", f"could not read the result file {path} on node "
                         f"{ctx.node().name}")
    return json.loads(answer)


def planned_release(ctx: JobContext) -> tuple[str, str]:
    """The id and directory name of the release this job builds: the job's id, and
    ``<UTC timestamp of the job>-<8 chars of the id>`` (sorts by time, never collides, the
    same in every attempt, so a retry finds what an earlier attempt built)."""
    release_id = ctx.job.id
    stamp = re.sub(r"[-:]", "", ctx.job.created_at)
    name = f"{stamp}-{release_id[:8]}"
    ctx.state["release_name"] = name
    return release_id, name


def record_release(ctx: JobContext, env: Environment, release_id: str, path: str,
                   source_type: str, source_ref: str, notes: str | None = None) -> None:
    with write_transaction(ctx.rt.db):
        if Release.get_or_none(Release.id == release_id) is None:
            Release.insert(id=release_id, environment_id=env.id, source_type=source_type,
                           source_ref=source_ref, path=path, health_status="unknown",
                           notes=notes, created_at=ctx.rt.now()).execute()
    ctx.state["release_id"] = release_id


def set_current_release(ctx: JobContext, env_id: str, release_id: str | None) -> None:
    env = Environment.get_by_id(env_id)
    with write_transaction(ctx.rt.db):
        update_versioned(Environment, env.id, env.state_version, ctx.rt.clock,
                         current_release_id=release_id)


def release_dir_name(release: Release) -> str:
    return release.path.rstrip("/").rsplit("/", 1)[-1]


async def switch_to(ctx: JobContext, env: Environment, release: Release | None = None) -> None:
    """Point ``current`` at ``release`` (default: the one this job built) and record it."""
    name = release_dir_name(release) if release else ctx.state["release_name"]
    await envctl(ctx, "activate", {**env_inputs(env), "release": name})
    set_current_release(ctx, env.id, release.id if release else ctx.state["release_id"])


async def switch_step(ctx: JobContext) -> None:
    """The step "switch current to the new release"; remembers what served before."""
    env = environment(ctx)
    ctx.state["previous_release_id"] = env.current_release_id
    await switch_to(ctx, env)


async def switch_back(ctx: JobContext, env: Environment) -> Release:
    """Back to the release that served before :func:`switch_step`; returns it."""
    previous = Release.get_by_id(ctx.state["previous_release_id"])
    await switch_to(ctx, env, previous)
    return previous


def set_health(ctx: JobContext, release_id: str, healthy: bool) -> None:
    """Record the verdict on the release, with each check's (kept from :func:`health`)."""
    checks = ctx.state.get("health_checks")
    fields: dict[str, Any] = {"health_status": "healthy" if healthy else "unhealthy"}
    if checks:
        fields["health_checks"] = json.dumps(checks)
    with write_transaction(ctx.rt.db):
        Release.update(**fields).where(Release.id == release_id).execute()


def health_inputs(ctx: JobContext, env: Environment, rounds: int = 2) -> dict[str, Any]:
    """What the node-side check needs beyond the environment: the operator's expected
    text (else the site's title), the response-time limit, and how many rounds: two, a few
    seconds apart, after a switch; one for a check on demand."""
    return {"expected_text": env.health_expected_text or "", "rounds": rounds,
            "max_seconds": float(effective_value(ctx.rt, "health_max_response_seconds"))}


async def health(ctx: JobContext, env: Environment, url: str | None = None,
                 rounds: int = 2, node: Node | None = None) -> tuple[bool, str]:
    """Run the node-side health check (at ``url``, default the canonical one) on ``ctx``'s
    node (``node``: its row, when that is not yet the environment's); (healthy, one line
    naming each check and, for a failed one, its evidence)."""
    data = {**env_inputs(env, node), **health_inputs(ctx, env, rounds)}
    if url is not None:
        data.update(url=url, server_name=url_host(url))
    answer = await envctl(ctx, "health", data)
    checks = answer.get("checks", {})
    ctx.state["health_checks"] = checks
    failed = {name: verdict for name, verdict in checks.items() if verdict != "ok"}
    summary = ", ".join(f"{name}: {verdict}" for name, verdict in failed.items()) or \
        ", ".join(f"{name} ok" for name in checks)
    return bool(answer.get("healthy")), summary


def leaves_environment_unchanged(step: StepFunction) -> StepFunction:
    """For steps that touch nothing live (verify, stage, build): their failure leaves the
    environment ``active``, not ``failed``."""

    async def wrapped(ctx: JobContext) -> None:
        try:
            await step(ctx)
        except JobFailure as exc:
            if exc.rolled_back:
                raise
            raise JobFailure(exc.code, f"{exc.message} (the environment was not changed)",
                             rolled_back=True) from None

    wrapped.__doc__ = step.__doc__
    return wrapped
