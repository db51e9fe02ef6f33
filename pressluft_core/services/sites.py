"""Sites: creating one makes the site, its production environment and the ``site_create``
job in one transaction; the node-side work happens when the job runs."""

from __future__ import annotations

import os

from pressluft_core import validation
from pressluft_core.clock import new_id
from pressluft_core.errors import NotFoundError, StateError, ValidationError
from pressluft_core.models import Environment, Node, Site
from pressluft_core.preview import configured_preview_domain, preview_url
from pressluft_core.records import Actor, JobRecord, SiteRecord, from_row
from pressluft_core.services import jobs
from pressluft_core.services.base import Service, mutation
from pressluft_core.services.nodes import find_node

DEFAULT_PRESET = "content-protect"


class SitesService(Service):
    @mutation("site.create", "site", resource_id=lambda job: job.site_id, target="slug")
    def create(
        self,
        actor: Actor,
        name: str,
        slug: str,
        *,
        node: str | None = None,
        promotion_preset: str = DEFAULT_PRESET,
        admin_email: str | None = None,
    ) -> JobRecord:
        """Returns the queued ``site_create`` job. ``node`` (id or name) defaults to the
        local node."""
        site_id, env_id, target_node = self._new_site(name, slug, node, promotion_preset)
        admin_email = validation.email("admin_email", admin_email or actor.email)
        return jobs.enqueue(
            self.rt, "site_create", site_id=site_id, environment_id=env_id,
            node_id=target_node.id,
            payload={"site_id": site_id, "environment_id": env_id, "title": name,
                     "admin_email": admin_email},
        )

    @mutation("site.import", "site", resource_id=lambda job: job.site_id, target="slug")
    def import_site(self, actor: Actor, name: str, slug: str, source: str, *,
                    node: str | None = None, promotion_preset: str = DEFAULT_PRESET
                    ) -> JobRecord:
        """Queue ``site_import``: a new site whose production environment is made from an
        archive (``.tar.gz``/``.tar.zst`` with ``db.sql``, ``files/``, optional
        ``meta.json``; a Pressluft backup imports as is) at an http(s) URL or a path on
        this machine. The archive is validated on the node before anything is changed."""
        source = check_import_source(source)
        site_id, env_id, target_node = self._new_site(name, slug, node, promotion_preset)
        return jobs.enqueue(self.rt, "site_import", site_id=site_id, environment_id=env_id,
                            node_id=target_node.id, max_attempts=2,
                            payload={"site_id": site_id, "environment_id": env_id,
                                     "source": source})

    def _new_site(self, name: str, slug: str, node: str | None, promotion_preset: str
                  ) -> tuple[str, str, Node]:
        """The site and its production environment rows, both ``deploying``."""
        name = validation.display_name("name", name)
        slug = validation.slug("slug", slug)
        promotion_preset = validation.one_of(
            "promotion_preset", promotion_preset, ("content-protect", "commerce-protect"))
        target_node = find_node(node) if node else _local_node()
        if target_node.status == "decommissioned":
            raise StateError(f"node {target_node.name!r} is decommissioned")
        if Site.select().where(Site.slug == slug).exists():
            raise ValidationError("slug", f"a site with slug {slug!r} already exists")
        now = self.rt.now()
        site_id, env_id = new_id(), new_id()
        Site.insert(id=site_id, name=name, slug=slug, status="deploying",
                    created_at=now, updated_at=now).execute()
        Environment.insert(
            id=env_id, site_id=site_id, name="Production", slug="production",
            environment_type="production", status="deploying", node_id=target_node.id,
            promotion_preset=promotion_preset,
            preview_url=preview_url(env_id, target_node, configured_preview_domain()),
            drift_status="unknown", created_at=now, updated_at=now,
        ).execute()
        Site.update(primary_environment_id=env_id).where(Site.id == site_id).execute()
        return site_id, env_id, target_node

    def list(self, token: str) -> list[SiteRecord]:
        self.auth.require(token)
        return [from_row(SiteRecord, s) for s in Site.select().order_by(Site.slug)]

    def get(self, token: str, ref: str) -> SiteRecord:
        """By id or slug."""
        self.auth.require(token)
        return from_row(SiteRecord, find_site(ref))


def check_import_source(source: str) -> str:
    """An http(s) URL, or an absolute path to a .tar.gz/.tgz/.tar.zst file here."""
    if not isinstance(source, str) or not source:
        raise ValidationError("source", "give the archive's URL or path")
    if source.startswith(("http://", "https://")):
        from urllib.parse import urlparse

        parsed = urlparse(source)
        if not parsed.hostname or any(c.isspace() for c in source) or "@" in parsed.netloc:
            raise ValidationError("source", "is not an http(s) URL without credentials")
        return source
    if not source.endswith((".tar.gz", ".tgz", ".tar.zst")):
        raise ValidationError("source", f"{source!r} is not a .tar.gz or .tar.zst archive")
    path = os.path.abspath(source)
    if not os.path.isfile(path):
        raise ValidationError("source", f"{source!r} is not a file")
    return path


def find_site(ref: str) -> Site:
    site = Site.get_or_none((Site.id == ref) | (Site.slug == ref))
    if site is None:
        raise NotFoundError(f"no site {ref!r}: see `pressluft site list`")
    return site


def _local_node() -> Node:
    node = Node.get_or_none(Node.is_local == 1)
    if node is None:
        raise ValidationError(
            "node", "no node given and no local node registered: run "
            "`pressluft node add --local …` or pass --node"
        )
    return node
