"""Custom domains of environments (DESIGN.md §7): attaching one (DNS check, certificate,
nginx, and, for the primary domain, WordPress's URLs), making another one primary,
removing one, and watching certificate expiry.

Every change is a job on the environment's node (``domain_add``, ``domain_remove``); the
service validates, writes the ``domains`` row and queues the job in one transaction.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from pressluft_core import validation
from pressluft_core.clock import new_id, parse_iso, to_iso
from pressluft_core.concurrency import update_versioned
from pressluft_core.errors import NotFoundError, StateError, ValidationError
from pressluft_core.models import Domain, Environment, Job, Node
from pressluft_core.records import Actor, DomainRecord, JobRecord, NodeRecord, from_row
from pressluft_core.services import jobs
from pressluft_core.services.base import Runtime, Service, mutation
from pressluft_core.services.environments import environment_filter, find_environment
from pressluft_core.services.nodes import find_node
from pressluft_core.services.settings import effective_value
from pressluft_core.services.sites import find_site

EXPIRY_WARNING_DAYS = 20


def needs_attention(expires_at: str | None, active: bool, now: datetime) -> bool:
    """An active certificate whose expiry is unknown, or any expiring within the warning
    window: certbot renews 30 days ahead, so by then renewal has stopped working."""
    if expires_at is None:
        return active
    return parse_iso(expires_at) - now <= timedelta(days=EXPIRY_WARNING_DAYS)
TLS_ISSUER = "letsencrypt"  # the seed's rule for the MVP (any ACME CA, the same certbot)


class DomainsService(Service):
    def list(self, token: str, site_ref: str | None = None, env_ref: str | None = None
             ) -> list[DomainRecord]:
        """Domains (of a site, or of one of its environments), by host name."""
        self.auth.require(token)
        query = Domain.select()
        limit = environment_filter(Domain.environment_id, site_ref, env_ref)
        if limit is not None:
            query = query.where(limit)
        return [from_row(DomainRecord, d) for d in query.order_by(Domain.hostname)]

    def get(self, token: str, hostname: str) -> DomainRecord:
        self.auth.require(token)
        return from_row(DomainRecord, find_domain(hostname))

    def primary_ids(self, token: str) -> set[str]:
        """Ids of the domains that are their environment's primary domain."""
        self.auth.require(token)
        return {e.primary_domain_id for e in Environment.live(Environment.primary_domain_id)
                .where(Environment.primary_domain_id.is_null(False))}

    def check_hostname(self, token: str, hostname: str) -> str:
        """The host-name checks ``add`` makes, for a dialog that confirms before adding."""
        self.auth.require(token)
        return check_hostname(self.rt, hostname)

    def expiring(self, token: str, within_days: int = EXPIRY_WARNING_DAYS
                 ) -> list[DomainRecord]:
        """Active certificates that expire within ``within_days`` (renewal should have
        refreshed them by now: certbot renews 30 days ahead), or whose expiry could not be
        read from the node; soonest first."""
        self.auth.require(token)
        return [from_row(DomainRecord, d) for d in expiring_domains(self.rt, within_days)]

    def expiring_preview_certificates(self, token: str,
                                      within_days: int = EXPIRY_WARNING_DAYS
                                      ) -> list[NodeRecord]:
        """Nodes whose wildcard preview certificate expires within ``within_days`` or whose
        expiry could not be read; soonest first."""
        self.auth.require(token)
        return [from_row(NodeRecord, n) for n in expiring_preview_certificates(self.rt,
                                                                               within_days)]

    @mutation("domain.add", "domain", resource_id=lambda job: job.payload["hostname"],
              target="hostname")
    def add(self, actor: Actor, site_ref: str, env_ref: str, hostname: str,
            primary: bool = False) -> JobRecord:
        """Queue ``domain_add``: DNS check, certificate, nginx; the environment's first
        domain (or one added with ``primary``) becomes primary and WordPress's URLs move
        to ``https://<hostname>``. Adding a domain the environment already has runs the
        job again (a failed certificate retried; ``primary`` makes it primary)."""
        env = find_environment(site_ref, env_ref)
        hostname = check_hostname(self.rt, hostname)
        _require_active(env)
        node = Node.get_by_id(env.node_id)
        if not node.public_ip:
            raise ValidationError("node.public_ip", f"node {node.name!r} has no public IP, "
                                  "so there is nothing to point the domain at: set it with "
                                  "`pressluft node set`")
        existing = Domain.get_or_none(Domain.hostname == hostname)
        if existing is not None and existing.environment_id != env.id:
            other = Environment.get_by_id(existing.environment_id)
            raise ValidationError("hostname", f"{hostname} is already a domain of "
                                  f"{find_site(other.site_id).slug}/{other.slug}; remove it "
                                  "there first")
        _no_domain_job_pending(env, hostname)
        now = self.rt.now()
        if existing is None:
            domain_id = new_id()
            Domain.insert(id=domain_id, environment_id=env.id, hostname=hostname,
                          tls_status="pending", tls_issuer=TLS_ISSUER, created_at=now,
                          updated_at=now).execute()
        else:
            domain_id = existing.id
            if existing.tls_status != "active":
                update_versioned(Domain, existing.id, existing.state_version, self.rt.clock,
                                 tls_status="pending", tls_error=None)
        return jobs.enqueue(self.rt, "domain_add", site_id=env.site_id, environment_id=env.id,
                            node_id=env.node_id, payload={
                                "domain_id": domain_id, "hostname": hostname,
                                "primary": bool(primary)})

    @mutation("domain.primary", "domain", resource_id=lambda job: job.payload["hostname"],
              target="hostname")
    def make_primary(self, actor: Actor, site_ref: str, hostname: str) -> JobRecord:
        """Queue ``domain_add`` for a domain the environment has, as its primary: URLs are
        rewritten to it and the previous primary redirects to it."""
        domain, env = _domain_of_site(site_ref, hostname)
        if env.deleted_at is not None:
            raise StateError(f"{domain.hostname} belongs to a deleted environment; remove it")
        if env.primary_domain_id == domain.id:
            raise StateError(f"{domain.hostname} is already the primary domain of {env.slug}")
        _require_active(env)
        _no_domain_job_pending(env, domain.hostname)
        return jobs.enqueue(self.rt, "domain_add", site_id=env.site_id, environment_id=env.id,
                            node_id=env.node_id, payload={
                                "domain_id": domain.id, "hostname": domain.hostname,
                                "primary": True})

    @mutation("domain.remove", "domain", resource_id=lambda job: job.payload["hostname"],
              target="hostname")
    def remove(self, actor: Actor, site_ref: str, hostname: str, *, confirm: str,
               new_primary: str | None = None) -> JobRecord:
        """Queue ``domain_remove``: server block and certificate removed. When it is the
        primary domain, WordPress's URLs go back to the preview URL, or to ``new_primary``
        (another domain of the environment with an active certificate). The domains of a
        deleted environment can be removed too (its server blocks and certificates are
        still on the node, and the host name stays taken until then)."""
        domain, env = _domain_of_site(site_ref, hostname)
        if confirm != domain.hostname:
            raise ValidationError("confirm", f"type the domain ({domain.hostname}) to confirm")
        payload: dict[str, object] = {"domain_id": domain.id, "hostname": domain.hostname}
        if new_primary:
            if env.primary_domain_id != domain.id:
                raise ValidationError("new_primary", f"{domain.hostname} is not the primary "
                                      "domain; use `domain primary` to change the primary")
            other, _ = _domain_of_site(site_ref, new_primary)
            if other.environment_id != env.id or other.id == domain.id:
                raise ValidationError("new_primary", f"{new_primary} is not another domain "
                                      f"of {env.slug}")
            if other.tls_status != "active":
                raise StateError(f"{other.hostname} has no active certificate "
                                 f"(tls {other.tls_status}); it cannot become primary")
            payload["new_primary_domain_id"] = other.id
        if env.primary_domain_id == domain.id and env.deleted_at is None:
            _require_active(env)
        _no_domain_job_pending(env, domain.hostname)
        return jobs.enqueue(self.rt, "domain_remove", site_id=env.site_id,
                            environment_id=env.id, node_id=env.node_id, payload=payload)

    @mutation("domain.preview_cert", "node", resource_id=lambda job: job.node_id,
              target="node_ref")
    def preview_certificate(self, actor: Actor, node_ref: str) -> JobRecord:
        """Queue ``preview_cert``: ``*.<preview_domain>`` on a node through ACME DNS-01 with
        ``dns01_provider`` (``webhook``, or a certbot DNS plugin installed on the node) and
        ``dns01_credentials_json``."""
        missing = [key for key in ("preview_domain", "dns01_provider")
                   if not effective_value(self.rt, key)]
        if missing:
            raise ValidationError(missing[0], "must be set for a wildcard preview "
                                              "certificate")
        node = find_node(node_ref)
        return jobs.enqueue(self.rt, "preview_cert", node_id=node.id, payload={})

    @mutation("domain.check_expiry", "domain", resource_id=lambda job: "*")
    def check_expiry(self, actor: Actor) -> JobRecord:
        """Queue ``cert_expiry`` now (it also runs daily): the expiry date of every
        certificate read from its node."""
        return jobs.enqueue(self.rt, "cert_expiry", payload={})


def check_hostname(rt: Runtime, value: object) -> str:
    """An RFC 1123 name of at least two labels that is no IP address, no wildcard and not
    under the preview domain (whose names the preview URLs use)."""
    if not isinstance(value, str):
        raise ValidationError("hostname", "must be a host name such as shop.example.com")
    name = validation.hostname("hostname", value.strip())
    try:
        ipaddress.ip_address(name)
        raise ValidationError("hostname", f"{name} is an IP address; give the host name "
                                          "that points at the node")
    except ValueError:
        pass
    if "." not in name:
        raise ValidationError("hostname", f"{name!r} is not a fully qualified host name "
                                          "(e.g. shop.example.com)")
    preview = effective_value(rt, "preview_domain")
    if preview and (name == preview or name.endswith("." + preview)):
        raise ValidationError("hostname", f"{name} is under the preview domain {preview}, "
                                          "whose names belong to preview URLs")
    return name


def find_domain(hostname: str) -> Domain:
    name = hostname.strip().lower().rstrip(".") if isinstance(hostname, str) else hostname
    domain = Domain.get_or_none(Domain.hostname == name)
    if domain is None:
        raise NotFoundError(f"no domain {hostname!r}: see `pressluft domain list`")
    return domain


def _domain_of_site(site_ref: str, hostname: str) -> tuple[Domain, Environment]:
    site = find_site(site_ref)
    domain = find_domain(hostname)
    env = Environment.get_or_none(Environment.id == domain.environment_id)
    if env is None or env.site_id != site.id:
        raise NotFoundError(f"site {site.slug!r} has no domain {hostname!r}")
    return domain, env


def _require_active(env: Environment) -> None:
    if env.status != "active" or env.current_release_id is None:
        raise StateError(f"environment {env.slug} is {env.status}"
                         + ("" if env.current_release_id else " and has no release")
                         + ": its domains can change only when it is active")


def _no_domain_job_pending(env: Environment, hostname: str) -> None:
    if Job.select().where((Job.environment_id == env.id)
                          & Job.job_type.in_(("domain_add", "domain_remove"))
                          & Job.status.in_(("queued", "running"))).exists():
        raise StateError(f"a domain job for {env.slug} is queued or running; wait for it "
                         f"before changing {hostname}")


def expiring_preview_certificates(rt: Runtime, within_days: int = EXPIRY_WARNING_DAYS
                                  ) -> list[Node]:
    """Nodes whose wildcard preview certificate expires within ``within_days`` or whose
    expiry could not be read when it was last checked."""
    limit = to_iso(rt.clock.now() + timedelta(days=within_days))
    rows = Node.select().where(Node.preview_cert_name.is_null(False) & (
        Node.preview_cert_expires_at.is_null() | (Node.preview_cert_expires_at <= limit)))
    return sorted(rows, key=lambda n: (n.preview_cert_expires_at or "", n.name))


def expiring_domains(rt: Runtime, within_days: int = EXPIRY_WARNING_DAYS) -> list[Domain]:
    limit = to_iso(rt.clock.now() + timedelta(days=within_days))
    rows = Domain.select().where((Domain.tls_status == "active") & (
        Domain.expires_at.is_null() | (Domain.expires_at <= limit)))
    return sorted(rows, key=lambda d: (d.expires_at or "", d.hostname))
