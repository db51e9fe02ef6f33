"""Drift checks, promotion plans and promotions (DESIGN.md §7, issue 7): pushing a staging
or clone environment to its site's production without touching production's protected
tables (posts, orders, …) and uploads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pressluft_core.clock import parse_iso
from pressluft_core.errors import StateError, ValidationError
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.models import Backup, DriftCheck, Environment, Release, Site
from pressluft_core.records import Actor, JobRecord
from pressluft_core.services import jobs
from pressluft_core.services.base import Service, mutation, write_audit
from pressluft_core.services.environments import find_environment
from pressluft_core.wordpress.presets import PROTECTED_PATHS, protected_tables

DRIFT_CHECK_MAX_AGE = timedelta(minutes=15)


def check_is_usable(check: DriftCheck | None, source: Environment, now: datetime,
                    override: bool) -> None:
    """The promotion's gate (the service applies it before queueing, the job again when it
    starts): a drift check of this source, the newest one, at most 15 minutes old, and
    ``clean`` unless the operator confirmed a drifted one."""
    if check is None or check.environment_id != source.id:
        raise JobFailure("PRECONDITION", f"no drift check of {source.slug}: run one first "
                                         "(`pressluft env drift`)")
    if check.id != source.last_drift_check_id:
        raise JobFailure("PRECONDITION", f"drift check {check.id[:8]} is not the newest of "
                                         f"{source.slug}")
    age = now - parse_iso(check.checked_at)
    if age > DRIFT_CHECK_MAX_AGE:
        raise JobFailure("PRECONDITION", f"the drift check of {source.slug} is "
                         f"{int(age.total_seconds() // 60)} min old (at most 15): run a new "
                         "one")
    if check.status == "drifted" and not override:
        raise JobFailure("PRECONDITION", f"production drifted since {source.slug} was cloned; "
                                         "promoting needs the typed confirmation")


def _source_and_production(site_ref: str, env_ref: str) -> tuple[Environment, Environment]:
    source = find_environment(site_ref, env_ref)
    if source.environment_type == "production":
        raise ValidationError("env", "production is what gets promoted to: give the staging "
                                     "or clone environment to promote")
    site = Site.get_by_id(source.site_id)
    prod = Environment.get_by_id(site.primary_environment_id)
    if source.node_id != prod.node_id:
        raise StateError(f"{source.slug} is on another node than production: promotion "
                         "works within one node; move one of them there first "
                         "(`pressluft env move`)")
    return source, prod


class PromotionService(Service):
    @mutation("env.drift_check", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def drift(self, actor: Actor, site_ref: str, env_ref: str) -> JobRecord:
        """Queue ``drift_check``: production now against ``env``'s clone-time baseline."""
        source, prod = _source_and_production(site_ref, env_ref)
        if not DriftCheck.select().where(DriftCheck.environment_id == source.id).exists():
            raise StateError(f"{source.slug} has no drift baseline (not cloned by Pressluft)")
        return jobs.enqueue(self.rt, "drift_check", site_id=source.site_id,
                            environment_id=source.id, node_id=prod.node_id, payload={})

    def plan(self, token: str, site_ref: str, env_ref: str) -> dict[str, Any]:
        """What a promotion of ``env`` would do now, from its newest drift check. Changes
        nothing."""
        self.auth.require(token)
        source, prod = _source_and_production(site_ref, env_ref)
        check = DriftCheck.get_or_none(DriftCheck.id == source.last_drift_check_id)
        db = json.loads(check.db_checksums_json or "{}") if check else {}
        prefix = db.get("prefix") or "wp_"
        preset = {prefix + t for t in protected_tables(source.promotion_preset)}
        tables = db.get("source_tables") or []
        backup = _fresh_backup(prod, check)
        origin = Release.get_or_none(Release.id == source.current_release_id)
        problem = None
        if check is None:
            problem = "no drift check yet: run one"
        else:

            try:
                check_is_usable(check, source, self.rt.clock.now(), override=True)
            except JobFailure as exc:
                problem = exc.message
        return {
            "source": source.slug, "target": prod.slug, "preset": source.promotion_preset,
            "copied_tables": sorted(t for t in tables if t not in preset),
            "protected_tables": sorted(preset), "protected_paths": list(PROTECTED_PATHS),
            "drift_check_id": check.id if check else None,
            "drift_status": check.status if check else "unknown",
            "drift_checked_at": check.checked_at if check else None,
            "report": db.get("report"),
            "backup": (f"production backup {backup.id[:8]} of {backup.created_at} is newer than "
                       "the drift check" if backup else "a full backup of production will be "
                       "taken first"),
            "release": ("a new production release copied from "
                        f"{source.slug} release {origin.path.rsplit('/', 1)[-1]}" if origin
                        else None),
            "needs_typed_confirmation": bool(check and check.status == "drifted"),
            "blocked_by": problem,
        }

    @mutation("env.promote", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def promote(self, actor: Actor, site_ref: str, env_ref: str, *,
                confirm: str | None = None) -> JobRecord:
        """Queue ``env_promote`` of ``env`` into production. Needs a drift check of ``env``
        from the last 15 minutes; a ``drifted`` one needs ``confirm`` = the site's slug
        (audited with the drift check's id)."""
        from pressluft_core.backups.rows import new_backup_row

        source, prod = _source_and_production(site_ref, env_ref)
        site = Site.get_by_id(source.site_id)
        if prod.status != "active" or source.status != "active":
            raise StateError("both environments must be active to promote")
        check = DriftCheck.get_or_none(DriftCheck.id == source.last_drift_check_id)
        override = check is not None and check.status == "drifted"
        if override and confirm != site.slug:
            raise ValidationError("confirm", f"production drifted since {source.slug} was "
                                  f"cloned: type the site's slug ({site.slug}) to promote "
                                  "anyway")
        try:
            check_is_usable(check, source, self.rt.clock.now(), override)
        except JobFailure as exc:
            raise StateError(exc.message) from None
        assert check is not None
        payload: dict[str, object] = {"source_environment_id": source.id,
                                      "drift_check_id": check.id, "override": override}
        backup = _fresh_backup(prod, check)
        if backup is not None:
            payload["fresh_backup_id"] = backup.id
        else:
            payload["backup_id"] = new_backup_row(self.rt, prod, "full").id
        if override:
            write_audit(self.rt, actor.user_id, "env.promote.override", "drift_check",
                        check.id, f"ok: promoting {source.slug} over drifted production")
        return jobs.enqueue(self.rt, "env_promote", site_id=prod.site_id,
                            environment_id=prod.id, node_id=prod.node_id, payload=payload,
                            max_attempts=1)


def _fresh_backup(prod: Environment, check: DriftCheck | None) -> Backup | None:
    if check is None:
        return None
    return Backup.select().where((Backup.environment_id == prod.id)
                                 & (Backup.backup_scope == "full")
                                 & (Backup.status == "completed")
                                 & (Backup.created_at >= check.checked_at)).order_by(
        Backup.created_at.desc()).first()
