"""Read models for the console: whole tables in a few queries, not one query per row.

The console's home screen lists every site with its production URL, environment count and
last job; with a thousand sites that must cost a handful of queries (see bench/tui.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import fn

from pressluft_core.db import dialect_of
from pressluft_core.errors import NotFoundError
from pressluft_core.jobs import presence
from pressluft_core.models import Backup, Domain, DriftCheck, Environment, Job, Node, Release, Site
from pressluft_core.records import (
    BackupRecord,
    DomainRecord,
    DriftCheckRecord,
    EnvironmentRecord,
    NodeRecord,
    ReleaseRecord,
    SiteRecord,
    from_row,
)
from pressluft_core.services.base import Service
from pressluft_core.services.domains import needs_attention
from pressluft_core.services.environments import TYPE_ORDER
from pressluft_core.services.sites import find_site

_SITES_SQL = """
SELECT s.id, s.name, s.slug, s.status, s.primary_environment_id, s.created_at,
       s.updated_at, s.state_version,
       (SELECT COALESCE((SELECT 'https://' || d.hostname FROM domains d
                          WHERE d.id = e.primary_domain_id AND d.tls_status = 'active'),
                         e.preview_url)
          FROM environments e
         WHERE e.site_id = s.id AND e.environment_type = 'production' LIMIT 1),
       (SELECT COUNT(*) FROM environments e WHERE e.site_id = s.id),
       j.id, j.job_type, j.status
FROM sites s
LEFT JOIN jobs j ON j.id = (SELECT l.id FROM jobs l WHERE l.site_id = s.id
                            ORDER BY l.queue_seq DESC LIMIT 1)
ORDER BY s.slug
"""


@dataclass(frozen=True)
class JobBrief:
    id: str
    job_type: str
    status: str


@dataclass(frozen=True)
class SiteSummary:
    site: SiteRecord
    production_url: str | None  # its primary domain's once that serves, else the preview URL
    environment_count: int
    last_job: JobBrief | None
    node_names: str = ""  # the nodes its environments run on, comma-separated


@dataclass(frozen=True)
class EnvironmentSummary:
    environment: EnvironmentRecord
    node_name: str
    release_label: str | None


@dataclass(frozen=True)
class EnvironmentDetail:
    site: SiteRecord
    environment: EnvironmentRecord
    node: NodeRecord
    releases: list[ReleaseRecord]
    backups: list[BackupRecord]
    domains: list[DomainRecord]
    drift_checks: list[DriftCheckRecord]


@dataclass(frozen=True)
class NodeSummary:
    node: NodeRecord
    environment_count: int


@dataclass(frozen=True)
class CertificateSummary:
    """One TLS certificate Pressluft looks after: a custom domain's (``kind`` "domain") or a
    node's wildcard preview certificate (``kind`` "preview", always active once named)."""

    kind: str
    name: str
    holder: str  # "acme/production" for a domain, "wildcard preview URLs" for a node's
    node_id: str
    node_name: str
    tls_status: str
    expires_at: str | None
    checked_at: str | None
    flagged: bool  # domains.needs_attention: renewal should have refreshed it by now
    error: str | None = None
    site_id: str | None = None
    environment_id: str | None = None  # None for a deleted environment's domain


@dataclass(frozen=True)
class WorkerMode:
    daemon_ids: list[str]

    @property
    def external(self) -> bool:
        return bool(self.daemon_ids)


class OverviewService(Service):
    def sites(self, token: str) -> list[SiteSummary]:
        """Every site with its production URL, environment count and latest job: one
        query, each correlated part answered from an index."""
        self.auth.require(token)
        db = self.rt.db
        sql = _SITES_SQL if dialect_of(db) == "sqlite" else _SITES_SQL.replace("?", "%s")
        placed: dict[str, set[str]] = {}
        for site_id, node_name in (Environment.live(Environment.site_id, Node.name)
                                   .join(Node, on=(Environment.node_id == Node.id)).tuples()):
            placed.setdefault(site_id, set()).add(node_name)
        summaries = []
        for row in db.execute_sql(sql).fetchall():
            site = SiteRecord(*row[:8])
            last = JobBrief(*row[10:13]) if row[10] else None
            summaries.append(SiteSummary(site, row[8], row[9], last,
                                         ", ".join(sorted(placed.get(site.id, ())))))
        return summaries

    def environments(self, token: str, site_ref: str) -> list[EnvironmentSummary]:
        self.auth.require(token)
        site = find_site(site_ref)
        envs = list(Environment.live().where(Environment.site_id == site.id))
        envs.sort(key=lambda e: (TYPE_ORDER[e.environment_type], e.slug))
        nodes = dict(Node.select(Node.id, Node.name).tuples())
        release_ids = [e.current_release_id for e in envs if e.current_release_id]
        releases = {r.id: r for r in Release.select().where(Release.id.in_(release_ids))}
        return [
            EnvironmentSummary(
                from_row(EnvironmentRecord, env), nodes.get(env.node_id, env.node_id),
                _release_label(releases.get(env.current_release_id)))
            for env in envs
        ]

    def environment(self, token: str, environment_id: str) -> EnvironmentDetail:
        self.auth.require(token)
        env = Environment.get_or_none(Environment.id == environment_id)
        if env is None:
            raise NotFoundError(f"no environment {environment_id!r}")
        by_env = lambda model: model.environment_id == env.id  # noqa: E731
        return EnvironmentDetail(
            site=from_row(SiteRecord, Site.get_by_id(env.site_id)),
            environment=from_row(EnvironmentRecord, env),
            node=from_row(NodeRecord, Node.get_by_id(env.node_id)),
            releases=[from_row(ReleaseRecord, r) for r in Release.select().where(
                by_env(Release)).order_by(Release.created_at.desc()).limit(100)],
            backups=[from_row(BackupRecord, b) for b in Backup.select().where(
                by_env(Backup)).order_by(Backup.created_at.desc()).limit(100)],
            domains=[from_row(DomainRecord, d) for d in Domain.select().where(
                by_env(Domain)).order_by(Domain.hostname)],
            drift_checks=[from_row(DriftCheckRecord, d) for d in DriftCheck.select().where(
                by_env(DriftCheck)).order_by(DriftCheck.checked_at.desc()).limit(20)],
        )

    def nodes(self, token: str) -> list[NodeSummary]:
        self.auth.require(token)
        counts = dict(Environment.live(Environment.node_id, fn.COUNT(Environment.id))
                      .group_by(Environment.node_id).tuples())
        return [NodeSummary(from_row(NodeRecord, node), counts.get(node.id, 0))
                for node in Node.select().order_by(Node.name)]

    def node_environments(self, token: str, node_id: str) -> list[tuple[str, EnvironmentRecord]]:
        """(site slug, environment) for every environment hosted on the node, and for
        those that moved away but left their old copy there (``node_id`` differs)."""
        self.auth.require(token)
        slugs = dict(Site.select(Site.id, Site.slug).tuples())
        return sorted(
            ((slugs.get(e.site_id, "?"), from_row(EnvironmentRecord, e))
             for e in Environment.live().where((Environment.node_id == node_id)
                                               | (Environment.previous_node_id == node_id))),
            key=lambda pair: (pair[0], TYPE_ORDER[pair[1].environment_type]))

    def certificates(self, token: str) -> list[CertificateSummary]:
        """Every certificate on every node, so one screen shows what is about to expire:
        active ones soonest expiry first (an unknown expiry first of all), then the ones
        not issued yet (pending, failed)."""
        self.auth.require(token)
        nodes = {n.id: n for n in Node.select()}
        slugs = dict(Site.select(Site.id, Site.slug).tuples())
        envs = {e.id: e for e in Environment.select(
            Environment.id, Environment.site_id, Environment.slug, Environment.node_id,
            Environment.deleted_at)}
        now = self.rt.clock.now()
        found = []
        for domain in Domain.select():
            env = envs[domain.environment_id]
            holder = f"{slugs.get(env.site_id, '?')}/{env.slug}"
            found.append(CertificateSummary(
                "domain", domain.hostname,
                holder + (" (deleted)" if env.deleted_at else ""), env.node_id,
                nodes[env.node_id].name, domain.tls_status, domain.expires_at,
                domain.tls_checked_at, needs_attention(
                    domain.expires_at, domain.tls_status == "active", now),
                domain.tls_error, env.site_id, None if env.deleted_at else env.id))
        found += [CertificateSummary("preview", node.preview_cert_name,
                                     "wildcard preview URLs", node.id, node.name, "active",
                                     node.preview_cert_expires_at,
                                     node.preview_cert_checked_at,
                                     needs_attention(node.preview_cert_expires_at, True, now))
                  for node in nodes.values() if node.preview_cert_name]
        return sorted(found, key=lambda c: (c.tls_status != "active", c.expires_at or "",
                                            c.name, c.node_name))

    def site_slugs(self, token: str) -> dict[str, str]:
        self.auth.require(token)
        return dict(Site.select(Site.id, Site.slug).tuples())

    def fingerprint(self) -> tuple[object, ...]:
        """Cheap summary that changes whenever a job, environment, site or node does; the
        console polls it to notice work done by another process (a worker daemon)."""
        jobs = (Job.select(fn.MAX(Job.queue_seq)).scalar(),
                Job.select(fn.MAX(Job.updated_at)).scalar())
        active = Job.select(Job.status, fn.COUNT(Job.id)).where(
            Job.status.in_(("queued", "running"))).group_by(Job.status).tuples()
        envs = Environment.live(fn.COUNT(Environment.id),
                                fn.SUM(Environment.state_version)).tuples().get()
        sites = Site.select(fn.COUNT(Site.id), fn.SUM(Site.state_version)).tuples().get()
        nodes = Node.select(fn.COUNT(Node.id), fn.SUM(Node.state_version)).tuples().get()
        progress = Job.select(Job.id, Job.progress).where(Job.status == "running").tuples()
        return (jobs, tuple(sorted(active)), envs, sites, nodes, tuple(sorted(progress)))

    def worker_mode(self) -> WorkerMode:
        return WorkerMode(presence.live_daemons(self.rt))


def _release_label(release: Release | None) -> str | None:
    if release is None:
        return None
    return f"{release.path.rstrip('/').rsplit('/', 1)[-1]} ({release.health_status})"
