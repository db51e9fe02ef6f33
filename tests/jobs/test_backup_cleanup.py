"""``backup_cleanup`` against a real S3 HTTP endpoint, with an injectable clock: expired
backups lose their object and become ``expired``; fresh ones are kept; the job is
scheduled once a day."""

from __future__ import annotations

import asyncio

from pressluft_core.clock import new_id
from pressluft_core.db import write_transaction
from pressluft_core.jobs.registry import load_handlers
from pressluft_core.jobs.scheduler import PERIODIC, Scheduler
from pressluft_core.jobs.worker import Worker
from pressluft_core.models import Backup, Job
from pressluft_core.services.jobs import enqueue
from tests.jobs.helpers import FAST, make_site
from tests.s3server import ACCESS_KEY, SECRET_KEY, s3_server

__all__ = ["s3_server"]


def configure_storage(core, token, s3_server) -> str:  # type: ignore[no-untyped-def]
    bucket = s3_server.new_bucket()
    for key, value in (("s3_endpoint_url", s3_server.endpoint_url), ("s3_bucket", bucket),
                       ("s3_access_key_id", ACCESS_KEY),
                       ("s3_secret_access_key", SECRET_KEY)):
        core.settings.set(token, key, value)
    return bucket


def add_backup(core, env_id: str, key: str, retention_until: str) -> str:  # type: ignore[no-untyped-def]
    backup_id = new_id()
    Backup.insert(id=backup_id, environment_id=env_id, backup_scope="full",
                  status="completed", storage_type="s3", storage_path=key,
                  retention_until=retention_until, checksum="0" * 64, size_bytes=5,
                  created_at="2026-01-01T00:00:00Z", completed_at="2026-01-01T00:01:00Z",
                  ).execute()
    return backup_id


def test_expired_backups_are_deleted_and_marked_fresh_ones_kept(core, token, local_node,
                                                                 s3_server, clock):
    bucket = configure_storage(core, token, s3_server)
    _site, env = make_site(core, token, "alpha")
    s3 = s3_server.client()
    for key in ("pressluft/alpha/production/old.tar.zst", "pressluft/alpha/production/new.tar.zst"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"bytes")
    old = add_backup(core, env, "pressluft/alpha/production/old.tar.zst", "2026-02-28T00:00:00Z")
    new = add_backup(core, env, "pressluft/alpha/production/new.tar.zst", "2026-03-20T00:00:00Z")
    with write_transaction(core.db):
        job = enqueue(core.rt, "backup_cleanup", payload={})
    asyncio.run(Worker(core.rt, FAST).run(only_job_id=job.id))
    assert Job.get_by_id(job.id).status == "succeeded"
    assert Backup.get_by_id(old).status == "expired"
    assert Backup.get_by_id(new).status == "completed"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["pressluft/alpha/production/new.tar.zst"]

    clock.advance(days=30)  # now the second one is past its date too
    with write_transaction(core.db):
        again = enqueue(core.rt, "backup_cleanup", payload={})
    asyncio.run(Worker(core.rt, FAST).run(only_job_id=again.id))
    assert Backup.get_by_id(new).status == "expired"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_dead_endpoint_fails_retryably_and_keeps_the_row(core, token, local_node, clock):
    core.settings.set(token, "s3_endpoint_url", "http://127.0.0.1:9")  # nothing listens
    core.settings.set(token, "s3_bucket", "backups")
    _site, env = make_site(core, token, "alpha")
    old = add_backup(core, env, "pressluft/alpha/production/old.tar.zst", "2026-02-01T00:00:00Z")
    with write_transaction(core.db):
        job = enqueue(core.rt, "backup_cleanup", payload={})
    asyncio.run(Worker(core.rt, FAST).run(only_job_id=job.id))
    row = Job.get_by_id(job.id)
    assert (row.status, row.error_code) == ("queued", "STEP_RETRYABLE")
    assert "could not delete" in row.error_message
    assert Backup.get_by_id(old).status == "completed"


def test_backup_cleanup_is_scheduled_daily(core, clock):
    load_handlers()
    assert any(p.job_type == "backup_cleanup" for p in PERIODIC)
    cleanup = [p for p in PERIODIC if p.job_type == "backup_cleanup"]
    scheduler = Scheduler(core.rt, cleanup)
    assert len(scheduler.tick()) == 1 and scheduler.tick() == []
    clock.advance(days=1)
    assert len(Scheduler(core.rt, cleanup).tick()) == 1
