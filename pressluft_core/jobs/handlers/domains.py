"""``domain_add`` and ``domain_remove`` (DESIGN.md §7); the certificate jobs are in
``certificates``.

Node-side work goes through ``domainctl`` (DNS check, certbot, the environment's
domains nginx file, the URL rewrite staged into a scratch database) and ``envctl``
(``restore-swap``/``-undo``/``-finish`` swap that database in with one ``RENAME TABLE``;
``prepare`` rewrites ``wp-config.php``; ``health``).

Moving WordPress to another URL (a domain becomes primary, or the primary goes away) is
done so that a failure puts everything back: the rewritten database is staged beside the
live one, swapped in, ``wp-config.php`` follows, the new URL is health-checked, and only
then are the replaced tables dropped and ``environments.primary_domain_id`` changed. A
failed check swaps the tables back, rewrites ``wp-config.php`` and nginx as they were and
fails the job saying so. A retried attempt first swaps back whatever an earlier attempt of
the same job left swapped in, then starts over.
"""

from __future__ import annotations

import json
from typing import Any

from pressluft_core.concurrency import update_versioned
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import Domain, Environment, Node
from pressluft_core.services.settings import effective_value

ERROR_PREFIX = "domainctl: "


async def domainctl(ctx: JobContext, command: str, data: dict[str, Any]) -> dict[str, Any]:
    """Run one ``domainctl`` command (in the node zipapp) on the job's node; its
    ``result:`` line, parsed.
    Exit 2 is bad input, exit 1 a failure; the node's sentence becomes the message."""
    session = await ctx.session()
    path = await session.upload_helper(common.NODE, common.HELPERS[common.NODE])
    result = await ctx.run(["python3", path, "domainctl", command], input=json.dumps(data).encode(),
                           sudo=True, ok_exit=(0, 1, 2))
    lines = result.output_tail.splitlines()
    if result.exit_status != 0:
        errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
        why = errors[-1][len(ERROR_PREFIX):] if errors else f"exit status {result.exit_status}"
        raise JobFailure("INVALID_PAYLOAD" if result.exit_status == 2 else "COMMAND_FAILED",
                         f"{command} on node {ctx.node().name}: {why}")
    for line in reversed(lines):
        if line.startswith(common.RESULT_PREFIX):
            return json.loads(line[len(common.RESULT_PREFIX):])
    raise JobFailure("COMMAND_FAILED", f"{command} on node {ctx.node().name} gave no result")


# -- rows -----------------------------------------------------------------------------------

def _domain(ctx: JobContext) -> Domain | None:
    return Domain.get_or_none(Domain.id == ctx.require("domain_id"))


def _require_domain(ctx: JobContext) -> Domain:
    domain = _domain(ctx)
    if domain is None:
        raise JobFailure("PRECONDITION", f"domain {ctx.payload.get('hostname')} no longer "
                                         "exists")
    return domain


def update_domain(ctx: JobContext, domain_id: str, **changes: Any) -> None:
    with write_transaction(ctx.rt.db):
        fresh = Domain.get_by_id(domain_id)
        update_versioned(Domain, domain_id, fresh.state_version, ctx.rt.clock, **changes)


def _set_primary(ctx: JobContext, env_id: str, domain_id: str | None) -> None:
    with write_transaction(ctx.rt.db):
        fresh = Environment.get_by_id(env_id)
        update_versioned(Environment, env_id, fresh.state_version, ctx.rt.clock,
                         primary_domain_id=domain_id)


def _fail_domain(ctx: JobContext, domain: Domain, why: str) -> None:
    """``failed`` with the reason; a domain that has a working certificate keeps
    ``active`` (the site still serves it), only the reason is recorded."""
    fresh = Domain.get_by_id(domain.id)
    changes: dict[str, Any] = {"tls_error": why[:1000]}
    if fresh.tls_status != "active":
        changes["tls_status"] = "failed"
    update_domain(ctx, domain.id, **changes)


def _env_domains(env: Environment) -> list[Domain]:
    return list(Domain.select().where(Domain.environment_id == env.id).order_by(
        Domain.hostname))


def serving(env: Environment) -> set[str]:
    """The host name WordPress is served on over https: its primary domain's, if any."""
    url = common.canonical_url(env)
    return {common.url_host(url)} if url != env.preview_url.rstrip("/") else set()


# -- node steps shared by add and remove ----------------------------------------------------

async def _config_flags(ctx: JobContext, env: Environment) -> dict[str, Any]:
    if "config" not in ctx.state:
        ctx.state["config"] = await domainctl(ctx, "inspect-config", common.env_inputs(env))
    return ctx.state["config"]


async def configure(ctx: JobContext, env: Environment, *, serve: set[str], redirect_to: str,
                    without: str | None = None, hosts: list[str] | None = None) -> None:
    """Write the environment's domains nginx file: ``serve`` answer with WordPress over
    https, every other domain redirects to ``redirect_to``. ``hosts``: these domains rather
    than the environment's (``[]`` takes the file away)."""
    flags = await _config_flags(ctx, env)
    if hosts is None:
        hosts = [d.hostname for d in _env_domains(env) if d.hostname != without]
    await domainctl(ctx, "configure", {
        **common.env_inputs(env), "domains": hosts, "serve": sorted(serve),
        "redirect_to": redirect_to, "noindex": bool(flags["quarantine"])})


async def prepare_url(ctx: JobContext, env: Environment, url: str,
                      preview_url: str | None = None) -> None:
    """``wp-config.php`` (WP_HOME, WP_SITEURL) for ``url``; everything else as it was. The
    preview server block keeps the preview host name (``preview_url``'s, default the
    environment's): custom domains have their own file."""
    flags = await _config_flags(ctx, env)
    preview = preview_url or env.preview_url
    await common.envctl(ctx, "prepare", {
        **common.env_inputs(env), "url": url, "server_name": common.url_host(preview),
        "tls_cert": common.preview_tls_cert(preview),
        "db_password": common.ensure_db_password(ctx, env.id),
        "table_prefix": flags["table_prefix"], "quarantine": bool(flags["quarantine"]),
        "cron": bool(flags["cron"])})
    await domainctl(ctx, "reload-php", {})


async def health_at(ctx: JobContext, env: Environment, url: str) -> tuple[bool, str]:
    return await common.health(ctx, env, url)


async def swap_in_rewritten_database(ctx: JobContext, env: Environment, old_url: str,
                                     new_url: str, swap: dict[str, Any]) -> None:
    """The database with ``old_url`` rewritten to ``new_url`` staged beside the live one,
    then swapped in with one ``RENAME TABLE`` (``restore-undo`` with ``swap`` swaps back)."""
    await domainctl(ctx, "stage-url-rewrite", {
        "db_name": common.node_names(env.id), "restore_id": swap["restore_id"],
        "old_url": old_url, "new_url": new_url})
    await common.envctl(ctx, "restore-swap", {**common.env_inputs(env), **swap})


async def switch_primary(ctx: JobContext, env: Environment, to: Domain | None) -> None:
    """Move WordPress from its canonical URL to ``https://<to>`` (or back to the preview
    URL when ``to`` is None); everything put back when the new URL is not healthy."""
    swap = {"restore_id": ctx.job.id[:8], "db": True, "files": False}
    # An earlier attempt of this job may have stopped with the rewritten tables swapped
    # in (the primary is changed only at the very end): put the previous ones back.
    await common.envctl(ctx, "restore-undo", {**common.env_inputs(env), **swap})
    old_url = common.canonical_url(env)
    new_url = f"https://{to.hostname}" if to else env.preview_url.rstrip("/")
    old_serving, new_serving = serving(env), ({to.hostname} if to else set())
    if old_url == new_url:
        ctx.info(f"WordPress already answers on {new_url}")
        await configure(ctx, env, serve=new_serving, redirect_to=new_url)
        return
    ctx.info(f"moving WordPress from {old_url} to {new_url}")
    await configure(ctx, env, serve=old_serving | new_serving, redirect_to=old_url)
    await swap_in_rewritten_database(ctx, env, old_url, new_url, swap)
    try:
        await prepare_url(ctx, env, new_url)
        healthy, summary = await health_at(ctx, env, new_url)
    except JobFailure as exc:
        healthy, summary = False, exc.message
    if not healthy:
        ctx.info(f"health check of {new_url} failed ({summary}): moving WordPress back to "
                 f"{old_url}")
        await common.envctl(ctx, "restore-undo", {**common.env_inputs(env), **swap})
        await prepare_url(ctx, env, old_url)
        await configure(ctx, env, serve=old_serving, redirect_to=old_url)
        raise JobFailure("HEALTH_CHECK_FAILED",
                         f"WordPress was not healthy on {new_url} ({summary}); moved back "
                         f"to {old_url}, which is serving again", rolled_back=True)
    await common.envctl(ctx, "restore-finish", {**common.env_inputs(env), **swap})
    _set_primary(ctx, env.id, to.id if to else None)
    await configure(ctx, env, serve=new_serving, redirect_to=new_url)
    ctx.info(f"WordPress answers on {new_url}; the other domains redirect to it")


# -- domain_add -----------------------------------------------------------------------------

def dns_problem(host: str, ip: str, addresses: list[str], node: str, resolver: str) -> str:
    others = [a for a in addresses if a != ip]
    if not addresses:
        now = "it has no A record now"
    elif ip in addresses:
        now = f"it also points at {', '.join(others)}: remove those A records"
    else:
        now = f"it points at {', '.join(addresses)} now"
    return (f"{host} does not point at node {node}: create the DNS record `{host}. A {ip}` "
            f"({now}; asked {resolver}). No certificate was requested; run `domain add` "
            "again once the record is visible")


async def _check_dns(ctx: JobContext) -> None:
    domain, env = _require_domain(ctx), common.environment(ctx)
    node = Node.get_by_id(env.node_id)
    try:
        if not node.public_ip:
            raise JobFailure("PRECONDITION", f"node {node.name} has no public IP to point "
                                             f"{domain.hostname} at")
        answer = await domainctl(ctx, "check-dns", {
            "hostname": domain.hostname, "resolver": effective_value(ctx.rt, "dns_resolver")})
        if answer["addresses"] != [node.public_ip]:
            raise JobFailure("DNS_MISMATCH", dns_problem(
                domain.hostname, node.public_ip, answer["addresses"], node.name,
                answer["resolver"]))
    except JobFailure as exc:
        _fail_domain(ctx, domain, exc.message)
        raise JobFailure(exc.code, exc.message, rolled_back=True) from None
    ctx.info(f"{domain.hostname} points at node {node.name} ({node.public_ip})")


def acme_code(failure: JobFailure) -> str:
    """certbot's refusal (domainctl exit 1, the ACME server's answer in the message) is
    ``ACME_FAILED``; bad input and lost connections keep their own codes."""
    if failure.code == "COMMAND_FAILED" and "certbot could not get a certificate" in \
            failure.message:
        return "ACME_FAILED"
    return failure.code


async def _certificate(ctx: JobContext) -> None:
    domain = _require_domain(ctx)
    data = {"hostname": domain.hostname,
            "directory_url": effective_value(ctx.rt, "acme_directory_url"),
            "email": effective_value(ctx.rt, "acme_email"),
            "ca_bundle": effective_value(ctx.rt, "acme_ca_bundle")}
    try:
        answer = await domainctl(ctx, "issue", data)
    except JobFailure as exc:
        _fail_domain(ctx, domain, exc.message)
        raise JobFailure(acme_code(exc), f"{exc.message} (the site was not changed)",
                         rolled_back=True) from None
    update_domain(ctx, domain.id, tls_status="active", expires_at=answer["not_after"],
                  tls_checked_at=ctx.rt.now(), tls_error=None)


async def _serve(ctx: JobContext) -> None:
    domain, env = _require_domain(ctx), common.environment(ctx)
    primary = bool(ctx.payload.get("primary")) or env.primary_domain_id in (None, domain.id)
    if primary:
        await switch_primary(ctx, env, domain)
        return
    canonical = common.canonical_url(env)
    await configure(ctx, env, serve=serving(env), redirect_to=canonical)
    ctx.info(f"https://{domain.hostname} redirects to {canonical}")


DOMAIN_ADD = job_type(
    "domain_add",
    ("check that DNS points at the node", _check_dns),
    ("get a certificate (ACME HTTP-01)", _certificate),
    ("serve the domain (primary: rewrite URLs, health check, rolled back when it fails)",
     _serve),
    running_status="deploying",
    timeout_seconds=2 * 60 * 60,
)


# -- domain_remove --------------------------------------------------------------------------

async def _leave_primary(ctx: JobContext) -> None:
    domain, env = _domain(ctx), common.environment(ctx)
    if domain is None or env.primary_domain_id != domain.id:
        ctx.info(f"{ctx.payload.get('hostname')} is not the primary domain: URLs stay")
        return
    if env.deleted_at is not None:
        ctx.info(f"environment {env.id[:8]} was deleted: no URLs to move")
        return
    target = None
    if ctx.payload.get("new_primary_domain_id"):
        target = Domain.get_or_none(Domain.id == ctx.payload["new_primary_domain_id"])
        if target is None or target.environment_id != env.id or target.tls_status != "active":
            raise JobFailure("PRECONDITION", "the domain chosen as the new primary is gone "
                             "or has no active certificate; nothing was changed",
                             rolled_back=True)
    await switch_primary(ctx, env, target)


async def _unserve(ctx: JobContext) -> None:
    env = common.environment(ctx)
    if env.deleted_at is not None:  # its files are gone: nothing of it may be served
        ctx.state["config"] = {"quarantine": False}
        await configure(ctx, env, serve=set(), redirect_to=env.preview_url.rstrip("/"),
                        without=ctx.require("hostname"))
        return
    await configure(ctx, env, serve=serving(env), redirect_to=common.canonical_url(env),
                    without=ctx.require("hostname"))


async def _remove_certificate(ctx: JobContext) -> None:
    await domainctl(ctx, "remove-cert", {"hostname": ctx.require("hostname")})


async def _forget(ctx: JobContext) -> None:
    domain = _domain(ctx)
    if domain is None:
        return
    with write_transaction(ctx.rt.db):
        env = Environment.get_by_id(domain.environment_id)
        if env.primary_domain_id == domain.id:  # only when the switch was skipped
            update_versioned(Environment, env.id, env.state_version, ctx.rt.clock,
                             primary_domain_id=None)
        Domain.delete().where(Domain.id == domain.id).execute()
    ctx.info(f"domain {domain.hostname} removed")


DOMAIN_REMOVE = job_type(
    "domain_remove",
    ("move URLs off the domain if it is primary (health check, rolled back when it fails)",
     _leave_primary),
    ("remove its nginx server blocks", _unserve),
    ("delete its certificate", _remove_certificate),
    ("forget the domain", _forget),
    running_status="deploying",
    timeout_seconds=2 * 60 * 60,
)
