"""``preview_cert``, ``cert_expiry`` and ``cert_check`` (DESIGN.md §7): the node's wildcard
preview certificate got through ACME DNS-01 (``domainctl issue-wildcard``), and every
active certificate's expiry read on its node once a day, so an expiring one shows in the
console before a browser refuses it."""

from __future__ import annotations

import json
from typing import Any

from pressluft_core.concurrency import update_versioned
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers import envctl as common
from pressluft_core.jobs.handlers.domains import acme_code, domainctl, update_domain
from pressluft_core.jobs.registry import job_type
from pressluft_core.jobs.scheduler import PeriodicJob, daily, periodic
from pressluft_core.models import Domain, Environment, Job, Node
from pressluft_core.services import jobs
from pressluft_core.services.domains import (
    EXPIRY_WARNING_DAYS,
    expiring_domains,
    expiring_preview_certificates,
)
from pressluft_core.services.settings import effective_value

# -- certificate expiry ---------------------------------------------------------------------

def _record_preview_cert(ctx: JobContext, node: Node, expires: str | None,
                        name: str | None = None) -> None:
    """The node's wildcard preview certificate and its expiry, as just read on the node."""
    with write_transaction(ctx.rt.db):
        fresh = Node.get_by_id(node.id)
        changes: dict[str, Any] = {"preview_cert_expires_at": expires,
                                   "preview_cert_checked_at": ctx.rt.now()}
        if name is not None or expires is not None:
            changes["preview_cert_name"] = name or fresh.preview_cert_name
        update_versioned(Node, node.id, fresh.state_version, ctx.rt.clock, **changes)


async def _queue_checks(ctx: JobContext) -> None:
    nodes = {env.node_id for env in Environment.live(Environment.node_id).where(
        Environment.id.in_(Domain.select(Domain.environment_id).where(
            Domain.tls_status == "active")))}
    nodes |= {n.id for n in Node.select(Node.id).where(Node.preview_cert_name.is_null(False))}
    queued = 0
    for node_id in sorted(nodes):
        if Job.select().where((Job.job_type == "cert_check") & (Job.node_id == node_id)
                              & Job.status.in_(("queued", "running"))).exists():
            continue
        with write_transaction(ctx.rt.db):
            jobs.enqueue(ctx.rt, "cert_check", node_id=node_id, payload={})
        queued += 1
    ctx.info(f"{queued} node(s) to read certificate expiry dates from")


async def _read_expiry(ctx: JobContext) -> None:
    node = ctx.node()
    domains = list(Domain.select().join(Environment, on=(
        Domain.environment_id == Environment.id)).where(
        (Environment.node_id == node.id) & Environment.deleted_at.is_null()
        & (Domain.tls_status == "active")))
    wildcard = node.preview_cert_name
    if not domains and not wildcard:
        ctx.info("no active certificates on this node")
        return
    answer = await domainctl(ctx, "expiry", {"hostnames": [d.hostname for d in domains]
                                             + ([wildcard] if wildcard else [])})
    now = ctx.rt.now()
    if wildcard:
        _record_preview_cert(ctx, node, answer["certificates"].get(wildcard), wildcard)
    for domain in domains:
        expires = answer["certificates"].get(domain.hostname)
        update_domain(ctx, domain.id, expires_at=expires, tls_checked_at=now,
                      tls_error=None if expires else f"no certificate for {domain.hostname} "
                      f"on node {node.name}")
    soon = [d.hostname for d in expiring_domains(ctx.rt) if d.id in {x.id for x in domains}]
    soon += [f"{n.preview_cert_name} (preview)" for n in expiring_preview_certificates(ctx.rt)
             if n.id == node.id]
    if soon:
        ctx.info(f"expiring within {EXPIRY_WARNING_DAYS} days or unreadable (renewal has not "
                 f"refreshed them): {', '.join(soon)}")


# -- wildcard preview certificate -----------------------------------------------------------

async def issue_wildcard(ctx: JobContext, domain: str | None, *, renew: bool) -> dict[str, Any]:
    """``*.<domain>`` on the job's node through ACME DNS-01 with the ``dns01_*`` settings.
    ``renew``: ask the ACME server even when the node has one valid for 30 more days."""
    provider = effective_value(ctx.rt, "dns01_provider")
    if not domain or not provider:
        raise JobFailure("PRECONDITION", "a wildcard preview certificate needs the "
                                         "preview_domain and dns01_provider settings")
    try:
        raw = json.loads(effective_value(ctx.rt, "dns01_credentials_json") or "{}")
    except json.JSONDecodeError:
        raise JobFailure("PRECONDITION", "dns01_credentials_json is not JSON") from None
    credentials = {str(k): str(v) for k, v in raw.items()}
    for value in credentials.values():
        if len(value) >= 8:  # tokens, URLs with tokens; not "60" (it would blank out times)
            ctx.redact(value)
    try:
        answer = await domainctl(ctx, "issue-wildcard", {
            "domain": domain, "provider": provider, "credentials": credentials,
            "renew": renew, "directory_url": effective_value(ctx.rt, "acme_directory_url"),
            "email": effective_value(ctx.rt, "acme_email"),
            "ca_bundle": effective_value(ctx.rt, "acme_ca_bundle")})
    except JobFailure as exc:
        raise JobFailure(acme_code(exc), exc.message) from None
    _record_preview_cert(ctx, ctx.node(), answer.get("not_after"), answer.get("cert_name"))
    return answer


async def ensure_preview_certificate(ctx: JobContext, preview_url: str) -> None:
    """Before an https preview URL is served: the node's wildcard certificate for it, got
    now if the node has none (nothing is asked of the ACME server when it has one)."""
    cert = common.preview_tls_cert(preview_url)
    if cert is not None:
        await issue_wildcard(ctx, cert[len("wildcard."):], renew=False)


async def _wildcard(ctx: JobContext) -> None:
    node = ctx.node()
    domain = effective_value(ctx.rt, "preview_domain")
    answer = await issue_wildcard(ctx, domain, renew=True)
    ctx.info(f"wildcard certificate for *.{domain} on node {node.name}: "
             f"{answer['fullchain']}, expires {answer['not_after']}")


PREVIEW_CERT = job_type("preview_cert", ("wildcard preview certificate (ACME DNS-01)",
                                         _wildcard), timeout_seconds=30 * 60)


CERT_EXPIRY = job_type("cert_expiry", ("queue a certificate check per node", _queue_checks),
                       timeout_seconds=600)
CERT_CHECK = job_type("cert_check", ("read certificate expiry dates", _read_expiry),
                      timeout_seconds=600)
periodic(PeriodicJob("daily-cert-expiry", "cert_expiry", daily))
