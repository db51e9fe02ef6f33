"""Environments of a site (production, staging, clones): reading them, and the rules that
decide an environment's preview URL."""

from __future__ import annotations

from pressluft_core.errors import NotFoundError
from pressluft_core.models import Environment
from pressluft_core.records import EnvironmentRecord, from_row
from pressluft_core.services.base import Service
from pressluft_core.services.sites import find_site

TYPE_ORDER = {"production": 0, "staging": 1, "clone": 2}


class EnvironmentsService(Service):
    def list(self, token: str, site_ref: str | None = None) -> list[EnvironmentRecord]:
        self.auth.require(token)
        query = Environment.select()
        if site_ref:
            query = query.where(Environment.site_id == find_site(site_ref).id)
        rows = sorted(query, key=lambda e: (e.site_id, TYPE_ORDER[e.environment_type], e.slug))
        return [from_row(EnvironmentRecord, e) for e in rows]

    def get(self, token: str, site_ref: str, env_ref: str) -> EnvironmentRecord:
        self.auth.require(token)
        return from_row(EnvironmentRecord, find_environment(site_ref, env_ref))


def find_environment(site_ref: str, env_ref: str) -> Environment:
    site = find_site(site_ref)
    env = Environment.get_or_none(
        (Environment.site_id == site.id)
        & ((Environment.id == env_ref) | (Environment.slug == env_ref))
    )
    if env is None:
        raise NotFoundError(f"site {site.slug!r} has no environment {env_ref!r}")
    return env
