"""Backup rows and where their objects live; light enough for services to import."""

from __future__ import annotations

from datetime import timedelta

from pressluft_core.clock import new_id, to_iso
from pressluft_core.models import Backup, Environment, Site
from pressluft_core.services.storage import StorageConfig


def storage_key(prefix: str, site_slug: str, env_slug: str, backup_id: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), site_slug, env_slug,
                                f"{backup_id}.tar.zst") if p)


def new_backup_row(rt, env: Environment, scope: str) -> Backup:  # type: ignore[no-untyped-def]
    """A ``pending`` row (inside the caller's write transaction)."""
    from pressluft_core.services.settings import effective_value

    config = StorageConfig.from_settings(rt)
    days = int(effective_value(rt, "backup_retention_days") or 30)
    site = Site.get_by_id(env.site_id)
    backup_id = new_id()
    now = rt.clock.now()
    Backup.insert(id=backup_id, environment_id=env.id, backup_scope=scope, status="pending",
                  storage_type="s3",
                  storage_path=storage_key(config.prefix, site.slug, env.slug, backup_id),
                  retention_until=to_iso(now + timedelta(days=days)),
                  created_at=to_iso(now)).execute()
    return Backup.get_by_id(backup_id)
