"""Environments of a site (production, staging, clones): reading them, and the jobs that
change them on their node: clone, deploy, rollback, health check."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from pressluft_core import validation
from pressluft_core.clock import new_id, to_iso
from pressluft_core.concurrency import update_versioned
from pressluft_core.errors import NotFoundError, StateError, ValidationError
from pressluft_core.models import Environment, Job, Node, Release
from pressluft_core.preview import configured_preview_domain, preview_url
from pressluft_core.records import (
    Actor,
    EnvironmentRecord,
    JobRecord,
    ReleaseRecord,
    from_row,
)
from pressluft_core.services import jobs
from pressluft_core.services.base import Runtime, Service, mutation
from pressluft_core.services.nodes import find_node
from pressluft_core.services.sites import find_site
from pressluft_core.wordpress.deploy_source import (
    check_archive,
    check_git_ref,
    check_git_url,
    check_into,
)

TYPE_ORDER = {"production": 0, "staging": 1, "clone": 2}
UPDATE_SCOPES = ("core", "plugins", "themes", "all")
MAX_EXPIRY_HOURS = 24 * 90


class EnvironmentsService(Service):
    def list(self, token: str, site_ref: str | None = None) -> list[EnvironmentRecord]:
        self.auth.require(token)
        query = Environment.live()
        if site_ref:
            query = query.where(Environment.site_id == find_site(site_ref).id)
        rows = sorted(query, key=lambda e: (e.site_id, TYPE_ORDER[e.environment_type], e.slug))
        return [from_row(EnvironmentRecord, e) for e in rows]

    def get(self, token: str, site_ref: str, env_ref: str) -> EnvironmentRecord:
        self.auth.require(token)
        return from_row(EnvironmentRecord, find_environment(site_ref, env_ref))

    def releases(self, token: str, site_ref: str, env_ref: str) -> list[ReleaseRecord]:
        """Newest first."""
        self.auth.require(token)
        env = find_environment(site_ref, env_ref)
        query = Release.select().where(Release.environment_id == env.id).order_by(
            Release.created_at.desc(), Release.id.desc())
        return [from_row(ReleaseRecord, r) for r in query]

    @mutation("env.clone", "environment", resource_id=lambda job: job.environment_id,
              target="slug")
    def clone(self, actor: Actor, site_ref: str, source_ref: str, name: str, slug: str, *,
              environment_type: str = "staging", quarantine: bool = True,
              cron: bool = False, expires_in_hours: int | None = None,
              node: str | None = None) -> JobRecord:
        """Queue ``env_create``: a copy of ``source`` (code, uploads, database with its URLs
        rewritten) as a new environment on the source's node, or on ``node`` (streamed
        there). Quarantined unless told otherwise: mail captured, search engines
        discouraged, WP-Cron off."""
        source = find_environment(site_ref, source_ref)
        name = validation.display_name("name", name)
        slug = validation.slug("slug", slug)
        environment_type = validation.one_of("environment_type", environment_type,
                                             ("staging", "clone"))
        _require_active(source, "cloned")
        if Environment.select().where((Environment.site_id == source.site_id)
                                      & (Environment.slug == slug)).exists():
            raise ValidationError("slug", f"the site already has an environment {slug!r}")
        expires_at = None
        if expires_in_hours is not None:
            if not isinstance(expires_in_hours, int) or not 0 < expires_in_hours <= \
                    MAX_EXPIRY_HOURS:
                raise ValidationError("expires_in_hours",
                                      f"must be a whole number of hours, 1 to {MAX_EXPIRY_HOURS}")
            expires_at = to_iso(self.rt.clock.now() + timedelta(hours=expires_in_hours))
        place = Node.get_by_id(source.node_id) if node is None else find_node(node)
        if node is not None and place.status != "active":
            raise ValidationError("node", f"node {place.name} is {place.status}: only an "
                                          "active node takes environments")
        now = self.rt.now()
        env_id = new_id()
        domain = configured_preview_domain()
        Environment.insert(
            id=env_id, site_id=source.site_id, name=name, slug=slug,
            environment_type=environment_type, status="cloning", node_id=place.id,
            source_environment_id=source.id, promotion_preset=source.promotion_preset,
            preview_url=preview_url(env_id, place, domain),
            drift_status="unknown", created_at=now, updated_at=now, expires_at=expires_at,
        ).execute()
        return jobs.enqueue(
            self.rt, "env_create", site_id=source.site_id, environment_id=env_id,
            node_id=place.id,
            payload={"source_environment_id": source.id, "quarantine": bool(quarantine),
                     "cron": bool(cron)},
        )

    @mutation("env.deploy", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def deploy(self, actor: Actor, site_ref: str, env_ref: str, *, git_url: str | None = None,
               git_ref: str | None = None, archive: str | None = None,
               into: str | None = None, allow_missing: bool = False) -> JobRecord:
        """Queue ``env_deploy`` from a git repository (URL + ref) or an archive on this
        machine (copied now, so a later change to the file cannot change the release).
        ``into`` (``themes/NAME``…) places a repository that is one theme or plugin;
        ``allow_missing`` lets a release without the active theme or plugins through (the
        caller asked for a typed confirmation)."""
        env = find_environment(site_ref, env_ref)
        _require_active(env, "deployed to")
        payload: dict[str, object] = _deploy_source(git_url, git_ref, archive)
        extra: dict[str, object] = {}
        if into:
            extra["into"] = check_into("into", into)
        if allow_missing:
            extra["allow_missing"] = True
        if archive is not None:
            payload = self._keep_archive(str(payload["archive"]))
        return jobs.enqueue(self.rt, "env_deploy", site_id=env.site_id, environment_id=env.id,
                            node_id=env.node_id, payload={**payload, **extra})

    @mutation("env.health_text", "environment", resource_id=lambda record: record.id,
              target="env_ref")
    def set_health_text(self, actor: Actor, site_ref: str, env_ref: str, text: str | None
                        ) -> EnvironmentRecord:
        """What the health check looks for on the front page instead of the site's title
        (empty or None: the title again)."""
        env = find_environment(site_ref, env_ref)
        value = validation.display_name("text", text) if text and text.strip() else None
        update_versioned(Environment, env.id, env.state_version, self.rt.clock,
                         health_expected_text=value)
        return from_row(EnvironmentRecord, Environment.get_by_id(env.id))

    @mutation("env.deploy_plan", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def plan_deploy(self, actor: Actor, site_ref: str, env_ref: str, *,
                    git_url: str | None = None, git_ref: str | None = None,
                    archive: str | None = None, into: str | None = None) -> JobRecord:
        """Queue ``deploy_plan``: the release a deploy of this source would build, built
        aside and discarded; its log lists what it would add, replace and keep and whether
        it lacks the active theme or plugins. Nothing is switched."""
        env = find_environment(site_ref, env_ref)
        _require_active(env, "planned for")
        payload: dict[str, object] = _deploy_source(git_url, git_ref, archive)
        if into:
            payload["into"] = check_into("into", into)
        if archive is not None:
            payload.update(self._keep_archive(str(payload["archive"])))
        return jobs.enqueue(self.rt, "deploy_plan", site_id=env.site_id,
                            environment_id=env.id, node_id=env.node_id, payload=payload)

    def _keep_archive(self, source: str) -> dict[str, object]:
        """A copy of the archive in the data dir, so a later change to the file cannot
        change the release."""
        uploads = self.rt.paths.data_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
        suffix = "".join(Path(source).suffixes[-2:]) if source.endswith(".tar.gz") or \
            source.endswith(".tar.zst") else Path(source).suffix
        stored = uploads / f"{new_id()}{suffix}"
        shutil.copyfile(source, stored)
        return {"archive": str(stored), "archive_name": Path(source).name}

    def check_deploy_source(self, token: str, *, git_url: str | None = None,
                            git_ref: str | None = None, archive: str | None = None,
                            into: str | None = None) -> None:
        """The source checks ``deploy`` makes, for a dialog that confirms before deploying."""
        self.auth.require(token)
        _deploy_source(git_url, git_ref, archive)
        if into:
            check_into("into", into)

    @mutation("env.rollback", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def rollback(self, actor: Actor, site_ref: str, env_ref: str) -> JobRecord:
        """Queue ``release_rollback``: back to the newest healthy release before the
        current one."""
        env = find_environment(site_ref, env_ref)
        _require_active(env, "rolled back")
        if previous_healthy_release(env) is None:
            raise StateError(f"environment {env.slug} has no earlier healthy release to roll "
                             "back to")
        return jobs.enqueue(self.rt, "release_rollback", site_id=env.site_id,
                            environment_id=env.id, node_id=env.node_id, payload={},
                            max_attempts=1)

    @mutation("env.health", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def health(self, actor: Actor, site_ref: str, env_ref: str) -> JobRecord:
        env = find_environment(site_ref, env_ref)
        if env.current_release_id is None:
            raise StateError(f"environment {env.slug} has no release to check yet")
        return jobs.enqueue(self.rt, "health_check", site_id=env.site_id,
                            environment_id=env.id, node_id=env.node_id, payload={})

    def next_preview_url(self, token: str, site_ref: str, env_ref: str) -> str:
        """The preview URL the current settings give the environment (what
        :meth:`regenerate_preview_url` moves it to)."""
        self.auth.require(token)
        return _settings_preview_url(find_environment(site_ref, env_ref))

    @mutation("env.preview_url", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def regenerate_preview_url(self, actor: Actor, site_ref: str, env_ref: str) -> JobRecord:
        """Queue ``env_preview_url``: the environment moves to the preview URL the current
        settings give (``https://<8>.<preview_domain>`` or the sslip.io one) — nginx, and
        WordPress's URLs when it answers on the preview URL (health-checked, moved back
        when the check fails). Refused when the URL would not change."""
        env = find_environment(site_ref, env_ref)
        _require_active(env, "moved to a new preview URL")
        new_url = _settings_preview_url(env)
        if new_url == env.preview_url:
            raise StateError(f"environment {env.slug} already has the preview URL the "
                             f"settings give: {new_url}")
        return jobs.enqueue(self.rt, "env_preview_url", site_id=env.site_id,
                            environment_id=env.id, node_id=env.node_id,
                            payload={"preview_url": new_url, "previous": env.preview_url})

    @mutation("env.login", "environment", resource_id=lambda login: login["environment_id"],
              target="env_ref")
    def login(self, actor: Actor, site_ref: str, env_ref: str) -> dict[str, str]:
        """The WordPress admin login made by ``site_create`` (clones share production's
        users, so their login is the source's). Every reveal is audited."""
        env = find_environment(site_ref, env_ref)
        origin = env
        while origin.source_environment_id:
            origin = Environment.get_by_id(origin.source_environment_id)
        stored = self.rt.secrets.get_or_none(f"env.{origin.id}.wp_admin")
        if stored is None:
            raise StateError(f"no WordPress login is stored for {env.slug} (site_create has "
                             "not installed WordPress yet)")
        login = json.loads(stored)
        return {"environment_id": env.id, "url": env.preview_url.rstrip("/") + "/wp-admin/",
                "user": login["user"], "password": login["password"]}


    @mutation("env.update", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def update(self, actor: Actor, site_ref: str, env_ref: str, scope: str = "all", *,
               packages: list[tuple[str, str]] | None = None, override: bool = False
               ) -> JobRecord:
        """Queue ``env_update`` (``core``, ``plugins``, ``themes`` or ``all``; or explicit
        plugin/theme zips on this machine as ``(type, path)``). Production is updated only
        after the same scope succeeded on one of the site's other environments in the last
        7 days, unless ``override``."""
        from pressluft_core.backups.rows import new_backup_row

        env = find_environment(site_ref, env_ref)
        _require_active(env, "updated")
        scope = validation.one_of("scope", scope, UPDATE_SCOPES)
        stored = []
        for kind, path in packages or []:
            kind = validation.one_of("package type", kind, ("plugin", "theme"))
            if not str(path).endswith(".zip"):
                raise ValidationError("package", f"{path!r} is not a .zip")
            check_archive("package", str(path))
            uploads = self.rt.paths.data_dir / "uploads"
            uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
            copy = uploads / f"{new_id()}.zip"
            shutil.copyfile(path, copy)
            stored.append({"type": kind, "archive": str(copy), "name": Path(path).name})
        if env.environment_type == "production" and not override and not \
                _tried_elsewhere(self.rt, env, scope, bool(stored)):
            raise StateError(f"update {scope} has not succeeded on a staging or clone "
                             "environment of this site in the last 7 days: update one first, "
                             "or override")
        backup = new_backup_row(self.rt, env, "db")
        return jobs.enqueue(self.rt, "env_update", site_id=env.site_id,
                            environment_id=env.id, node_id=env.node_id, max_attempts=1,
                            payload={"scope": scope, "packages": stored,
                                     "db_backup_id": backup.id})

    @mutation("env.delete", "environment", resource_id=lambda job: job.environment_id,
              target="env_ref")
    def delete(self, actor: Actor, site_ref: str, env_ref: str, *, confirm: str,
               without_backup: bool = False) -> JobRecord:
        """Queue ``env_delete``: a full backup first (unless ``without_backup``), then the
        environment leaves its node and every list. ``confirm`` must repeat the slug.
        Production cannot be deleted (delete the site instead)."""
        env = find_environment(site_ref, env_ref)
        if confirm != env.slug:
            raise ValidationError("confirm", f"type the environment's slug ({env.slug}) to "
                                             "confirm")
        return queue_deletion(self.rt, env, without_backup=without_backup)


    @mutation("env.backup_schedule", "environment", resource_id=lambda env: env.id,
              target="env_ref")
    def set_backup_schedule(self, actor: Actor, site_ref: str, env_ref: str,
                            schedule: str) -> EnvironmentRecord:
        """``daily``, ``off`` or ``default`` (production daily, others off); backups run
        at the ``backup_hour`` setting."""
        env = find_environment(site_ref, env_ref)
        schedule = validation.one_of("schedule", schedule, ("daily", "off", "default"))
        update_versioned(Environment, env.id, env.state_version, self.rt.clock,
                         backup_schedule=None if schedule == "default" else schedule)
        return from_row(EnvironmentRecord, Environment.get_by_id(env.id))


def queue_deletion(rt: Runtime, env: Environment, *, without_backup: bool = False,
                   reason: str = "asked by the operator") -> JobRecord:
    """The one way an ``env_delete`` job is made (operator or expiry)."""
    from pressluft_core.backups.rows import new_backup_row

    if env.environment_type == "production":
        raise StateError("a production environment cannot be deleted on its own")
    if Job.select().where((Job.environment_id == env.id) & (Job.job_type == "env_delete")
                          & Job.status.in_(("queued", "running"))).exists():
        raise StateError(f"environment {env.slug} is already being deleted")
    payload: dict[str, object] = {"reason": reason}
    if not without_backup and env.current_release_id is not None:
        payload["backup_id"] = new_backup_row(rt, env, "full").id
    return jobs.enqueue(rt, "env_delete", site_id=env.site_id, environment_id=env.id,
                        node_id=env.node_id, payload=payload)


def _tried_elsewhere(rt: Runtime, env: Environment, scope: str, packages: bool) -> bool:
    since = to_iso(rt.clock.now() - timedelta(days=7))
    others = Environment.select(Environment.id).where(
        (Environment.site_id == env.site_id) & (Environment.id != env.id))
    for job in Job.select().where((Job.job_type == "env_update") & (Job.status == "succeeded")
                                  & (Job.environment_id.in_(others))
                                  & (Job.finished_at >= since)):
        payload = json.loads(job.payload_json)
        if payload.get("scope") == scope and bool(payload.get("packages")) == packages:
            return True
    return False


def previous_healthy_release(env: Environment) -> Release | None:
    current = Release.get_or_none(Release.id == env.current_release_id)
    query = Release.select().where((Release.environment_id == env.id)
                                   & (Release.health_status == "healthy"))
    if current is not None:
        query = query.where((Release.id != current.id)
                            & (Release.created_at <= current.created_at))
    return query.order_by(Release.created_at.desc(), Release.id.desc()).first()


def _settings_preview_url(env: Environment) -> str:
    return preview_url(env.id, Node.get_by_id(env.node_id), configured_preview_domain())


def _require_active(env: Environment, verb: str) -> None:
    if env.status != "active":
        raise StateError(f"environment {env.slug} is {env.status}: it can be {verb} only "
                         "when active")
    if env.current_release_id is None:
        raise StateError(f"environment {env.slug} has no release yet")


def environment_filter(column: Any, site_ref: str | None, env_ref: str | None, *,
                       include_deleted: bool = False) -> Any:
    """``column`` (an ``environment_id``) limited to one environment, or to a site's
    environments (deleted ones too when ``include_deleted``: their backups stay listed);
    None for no limit. The one rule every per-site list (backups, domains) uses."""
    if site_ref and env_ref:
        return column == find_environment(site_ref, env_ref).id
    if site_ref:
        select = Environment.select if include_deleted else Environment.live
        return column.in_(select(Environment.id).where(
            Environment.site_id == find_site(site_ref).id))
    return None


def find_environment(site_ref: str, env_ref: str) -> Environment:
    site = find_site(site_ref)
    env = Environment.live().where(
        (Environment.site_id == site.id)
        & ((Environment.id == env_ref) | (Environment.slug == env_ref))
    ).first()
    if env is None:
        raise NotFoundError(f"site {site.slug!r} has no environment {env_ref!r}")
    return env


def _deploy_source(git_url: str | None, git_ref: str | None, archive: str | None
                   ) -> dict[str, object]:
    """Exactly one source, checked: ``git_url`` and ``git_ref`` (default main), or
    ``archive`` (a local file of a known kind and size)."""
    if (git_url is None) == (archive is None):
        raise ValidationError("source", "give either a git repository (and ref) or an "
                                        "archive")
    if git_url is not None:
        return {"git_url": check_git_url("git_url", git_url),
                "git_ref": check_git_ref("git_ref", git_ref or "main")}
    return {"archive": check_archive("archive", str(archive))}
