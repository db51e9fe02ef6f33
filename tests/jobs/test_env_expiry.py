"""Expiry of temporary clones, with an injected clock: due ones get an ``env_delete`` job
with a backup row; without backup storage they are kept and the job says why."""

from __future__ import annotations

import json

import pytest

from pressluft_core.clock import new_id
from pressluft_core.errors import StateError, ValidationError
from pressluft_core.models import Backup, Environment, Job, Release, Site
from tests.jobs.test_remote_jobs import run_job


def make_env(core, site_id: str, node_id: str, slug: str, env_type: str,  # type: ignore[no-untyped-def]
             expires_at: str | None) -> str:
    env_id = new_id()
    now = core.rt.now()
    Environment.insert(id=env_id, site_id=site_id, name=slug, slug=slug,
                       environment_type=env_type, status="active", node_id=node_id,
                       promotion_preset="content-protect",
                       preview_url=f"http://{env_id[:8]}.127-0-0-1.sslip.io",
                       drift_status="unknown", created_at=now, updated_at=now,
                       expires_at=expires_at).execute()
    release_id = new_id()
    Release.insert(id=release_id, environment_id=env_id, source_type="upload",
                   source_ref="test", path=f"/srv/{env_id}", health_status="healthy",
                   created_at=now).execute()
    Environment.update(current_release_id=release_id).where(Environment.id == env_id).execute()
    return env_id


@pytest.fixture(name="site")
def site_fixture(core, token, local_node):  # type: ignore[no-untyped-def]
    core.sites.create(token, "Temp Site", "temp-site")
    site = Site.get(Site.slug == "temp-site")
    return site, local_node


def run_expiry(core):  # type: ignore[no-untyped-def]
    from pressluft_core.db import write_transaction
    from pressluft_core.services.jobs import enqueue

    with write_transaction(core.rt.db):
        job = enqueue(core.rt, "env_expiry", payload={})
    return run_job(core, job.id)


def test_due_clones_get_a_delete_job_with_a_backup_and_others_are_kept(
        core, token, site, clock):  # type: ignore[no-untyped-def]
    site, node = site
    core.settings.set(token, "s3_bucket", "backups")
    due = make_env(core, site.id, node.id, "old", "clone", "2026-03-01T11:00:00Z")
    later = make_env(core, site.id, node.id, "later", "clone", "2026-03-01T13:00:00Z")
    make_env(core, site.id, node.id, "kept", "staging", None)
    assert run_expiry(core).status == "succeeded"
    (job,) = Job.select().where(Job.job_type == "env_delete")
    assert job.environment_id == due
    backup = Backup.get_by_id(json.loads(job.payload_json)["backup_id"])
    assert (backup.status, backup.backup_scope) == ("pending", "full")
    assert run_expiry(core).status == "succeeded"  # already being deleted: not again
    assert Job.select().where(Job.job_type == "env_delete").count() == 1
    clock.advance(hours=2)
    run_expiry(core)
    assert {j.environment_id for j in Job.select().where(Job.job_type == "env_delete")} \
        == {due, later}


def test_without_storage_expired_clones_are_kept_and_the_job_says_why(
        core, token, site):  # type: ignore[no-untyped-def]
    site, node = site
    make_env(core, site.id, node.id, "old", "clone", "2026-03-01T11:00:00Z")
    done = run_expiry(core)
    assert done.status == "failed" and "s3_bucket" in done.error_message
    assert "old" in done.error_message
    assert not Job.select().where(Job.job_type == "env_delete").exists()
    assert "expired environments kept" in done.error_message


def test_delete_needs_the_slug_typed_and_never_takes_production(core, token, site):  # type: ignore[no-untyped-def]
    site, node = site
    make_env(core, site.id, node.id, "scratch", "clone", None)
    with pytest.raises(ValidationError, match="scratch"):
        core.environments.delete(token, "temp-site", "scratch", confirm="nope")
    with pytest.raises(StateError, match="production"):
        core.environments.delete(token, "temp-site", "production", confirm="production")
    job = core.environments.delete(token, "temp-site", "scratch", confirm="scratch",
                                   without_backup=True)
    assert "backup_id" not in json.loads(Job.get_by_id(job.id).payload_json)
