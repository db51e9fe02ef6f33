"""Scheduled backups and drills with an injected clock: production is backed up daily at
``backup_hour``, other environments only when their schedule says so, and production's
latest backup gets a restore drill on ``backup_verify_weekday``."""

from __future__ import annotations

import json

from pressluft_core.db import write_transaction
from pressluft_core.models import Backup, Environment, Job, Site
from pressluft_core.services.jobs import enqueue
from tests.jobs.test_env_expiry import make_env, site_fixture  # noqa: F401 (fixture)
from tests.jobs.test_remote_jobs import run_job


def run_schedule(core):  # type: ignore[no-untyped-def]
    with write_transaction(core.rt.db):
        job = enqueue(core.rt, "backup_schedule", payload={})
    return run_job(core, job.id)


def queued(job_type: str) -> list[Job]:
    return list(Job.select().where(Job.job_type == job_type))


def test_daily_backups_at_the_backup_hour(core, token, site, clock):  # type: ignore[no-untyped-def]
    site_row, node = site
    core.settings.set(token, "s3_bucket", "backups")
    core.settings.set(token, "backup_hour", "14")
    prod = make_env(core, site_row.id, node.id, "prod2", "production", None)
    staging = make_env(core, site_row.id, node.id, "stage", "staging", None)
    nightly = make_env(core, site_row.id, node.id, "nightly", "staging", None)
    Environment.update(backup_schedule="daily").where(Environment.id == nightly).execute()
    Environment.update(backup_schedule="off").where(
        (Environment.site_id == site_row.id) & (Environment.slug == "production")).execute()

    assert clock.now().hour == 12 and run_schedule(core).status == "succeeded"
    assert queued("backup_create") == []
    clock.advance(hours=2)
    assert run_schedule(core).status == "succeeded"
    backed_up = {j.environment_id for j in queued("backup_create")}
    assert backed_up == {prod, nightly} and staging not in backed_up
    for job in queued("backup_create"):
        backup = Backup.get_by_id(json.loads(job.payload_json)["backup_id"])
        assert (backup.status, backup.backup_scope) == ("pending", "full")
    run_schedule(core)  # the same hour again: nothing twice
    assert len(queued("backup_create")) == 2


def test_weekly_drill_of_productions_latest_backup(core, token, site, clock):  # type: ignore[no-untyped-def]
    site_row, node = site
    core.settings.set(token, "s3_bucket", "backups")
    weekday = clock.now().weekday()
    core.settings.set(token, "backup_hour", str(clock.now().hour))
    core.settings.set(token, "backup_verify_weekday", str((weekday + 1) % 7))
    prod = make_env(core, site_row.id, node.id, "prod2", "production", None)
    Backup.update(status="completed", checksum="ab" * 32, size_bytes=10).execute()
    run_schedule(core)
    assert queued("backup_verify") == []
    Backup.update(status="completed", checksum="ab" * 32, size_bytes=10).execute()
    core.settings.set(token, "backup_verify_weekday", str(weekday))
    clock.advance(hours=1)
    core.settings.set(token, "backup_hour", str(clock.now().hour))
    run_schedule(core)
    drilled = {j.environment_id for j in queued("backup_verify")}
    assert prod in drilled
    assert Site.select().count() == 1


def test_no_drill_is_queued_that_could_not_get_its_certificate(core, token, site, clock):  # type: ignore[no-untyped-def]
    """preview_domain without dns01_provider: the drill's throwaway could not get its
    wildcard certificate, so the schedule queues the backups, no drill, and fails naming
    the missing setting (as ``backup verify`` refuses it) instead of queuing a doomed job."""
    site_row, node = site
    core.settings.set(token, "s3_bucket", "backups")
    core.settings.set(token, "backup_hour", str(clock.now().hour))
    core.settings.set(token, "backup_verify_weekday", str(clock.now().weekday()))
    core.settings.set(token, "preview_domain", "preview.example.com")
    prod = make_env(core, site_row.id, node.id, "prod2", "production", None)
    Backup.update(status="completed", checksum="ab" * 32, size_bytes=10).execute()
    Backup.update(created_at="2000-01-01T00:00:00Z").execute()  # due for a new backup too
    job = run_schedule(core)
    assert (job.status, job.error_code) == ("failed", "PRECONDITION")
    assert "restore drills" in job.error_message and "dns01_provider" in job.error_message
    assert queued("backup_verify") == []
    assert prod in {j.environment_id for j in queued("backup_create")}
