"""Backups on the real stack against a real S3-compatible HTTP server (moto's server
mode): a full backup round trip restores every table and every upload byte for byte; a
production backup restored into staging serves under staging's URL; an altered object is
refused before the target is touched."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pressluft_core.clock import to_iso
from pressluft_core.errors import StateError
from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.models import Backup, Environment, Job, Node, Release
from tests.faultproxy import FaultProxy, fault_proxy
from tests.s3server import S3Server, s3_server
from tests.wordpress.stack import Stack, http_get, mysql

__all__ = ["s3_server"]
BIG_FILE_MB = int(os.environ.get("PRESSLUFT_TEST_BIG_UPLOAD_MB", "300"))
MEMORY_TEST_MB = int(os.environ.get("PRESSLUFT_TEST_MEMORY_UPLOAD_MB", "2048"))
# Peak RSS from the kernel's own accounting of the process (VmHWM; getrusage's ru_maxrss
# would also count the forked parent's pages from before exec).
MEASURED_CLI = ("import sys\n"
                "from pressluft_core.cli.main import main\n"
                "status = main(sys.argv[1:])\n"
                "peak = [l.split()[1] for l in open('/proc/self/status') if "
                "l.startswith('VmHWM:')][0]\n"
                "print(f'peak_rss_kib={peak}', file=sys.stderr)\n"
                "sys.exit(status)\n")


@pytest.fixture(scope="module")
def bucket(stack: Stack, s3_server: S3Server) -> str:
    return s3_server.configure(stack.core, stack.token)


@pytest.fixture(scope="module")
def shop(stack: Stack, bucket: str) -> Environment:
    job = stack.core.sites.create(stack.token, "Backup Shop", "shop", node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("shop", "production")
    db = node_names(env.id)
    url = env.preview_url
    rows = ", ".join(f"(1, NOW(), NOW(), 'post {i} {url}/p/{i}', 'Title {i}', '', 'publish', "
                     "'', '', '', NOW(), NOW(), '', 'post', '')" for i in range(200))
    mysql("INSERT INTO wp_posts (post_author, post_date, post_date_gmt, post_content, "
          "post_title, post_excerpt, post_status, to_ping, pinged, post_content_filtered, "
          "post_modified, post_modified_gmt, guid, post_type, post_mime_type) VALUES "
          + rows, db)
    value = f"{url}/logo.png"
    mysql("INSERT INTO wp_options (option_name, option_value, autoload) VALUES "
          f"('shop_logo', 'a:1:{{s:4:\"logo\";s:{len(value)}:\"{value}\";}}', 'no')", db)
    uploads = uploads_dir(stack, env)
    (uploads / "2026" / "11").mkdir(parents=True)
    (uploads / "2026" / "11" / "photo.jpg").write_bytes(os.urandom(1_000_000))
    (uploads / "notes ünï 'quoted'.txt").write_text("hello\n")
    with open(uploads / "2026" / "11" / "big.bin", "wb") as handle:
        for _ in range(BIG_FILE_MB):
            handle.write(os.urandom(1 << 20))
    subprocess.run(["chown", "-R", f"{db}:{db}", str(uploads)], check=True)
    return env


def uploads_dir(stack: Stack, env: Environment) -> Path:
    return stack.sites_root / env.site_id / env.id / "shared" / "uploads"


def table_checksums(db: str) -> dict[str, str]:
    out = mysql("SHOW TABLES", db).split()
    return {t: mysql(f"CHECKSUM TABLE `{t}`", db).split()[-1] for t in out}


def file_digests(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            found[str(path.relative_to(root))] = digest.hexdigest()
    return found


def backup_of(stack: Stack, env_slug: str) -> Backup:
    job = stack.core.backups.create(stack.token, "shop", env_slug, "full")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    (backup,) = [b for b in stack.core.backups.list(stack.token, "shop", env_slug)
                 if b.status == "completed"][:1]
    return Backup.get_by_id(backup.id)


def test_full_backup_round_trip_restores_every_table_and_byte(
        stack: Stack, shop: Environment, s3_server: S3Server, bucket: str) -> None:
    db = node_names(shop.id)
    tables_before = table_checksums(db)
    files_before = file_digests(uploads_dir(stack, shop))
    backup = backup_of(stack, "production")
    assert backup.storage_path == f"pressluft/shop/production/{backup.id}.tar.zst"
    body = s3_server.client().get_object(Bucket=bucket, Key=backup.storage_path)["Body"]
    assert hashlib.sha256(body.read()).hexdigest() == backup.checksum
    assert not s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads")

    mysql("DROP TABLE wp_posts, wp_options", db)
    subprocess.run(["rm", "-rf", *map(str, uploads_dir(stack, shop).iterdir())], check=True)
    assert http_get(shop.preview_url)[0] != 200

    job = stack.core.backups.restore(stack.token, backup.id)
    done = stack.run(job.id)
    assert done.status == "succeeded", stack.log(job.id)
    assert table_checksums(db) == tables_before
    assert file_digests(uploads_dir(stack, shop)) == files_before
    assert http_get(shop.preview_url)[0] == 200
    pre = [b for b in stack.core.backups.list(stack.token, "shop", "production")
           if b.id != backup.id]
    assert pre and pre[0].status == "completed"  # the pre-restore backup


def test_production_backup_restored_into_staging_serves_staging_url(
        stack: Stack, shop: Environment, bucket: str) -> None:
    job = stack.core.environments.clone(stack.token, "shop", "production", "Staging",
                                        "staging")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    staging = stack.env("shop", "staging")
    backup = backup_of(stack, "production")
    job = stack.core.backups.restore(stack.token, backup.id, target_env="staging")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    dump = subprocess.run(["mysqldump", node_names(staging.id)], capture_output=True,
                          check=True).stdout
    assert shop.preview_url.split("://")[1].encode() not in dump
    status, body = http_get(staging.preview_url)
    assert status == 200 and staging.preview_url.split("://")[1].encode() in body


def test_an_altered_object_is_refused_before_the_target_is_touched(
        stack: Stack, shop: Environment, s3_server: S3Server, bucket: str) -> None:
    backup = backup_of(stack, "production")
    s3 = s3_server.client()
    s3.put_object(Bucket=bucket, Key=backup.storage_path, Body=b"not the backup")
    before = table_checksums(node_names(shop.id))
    jobs_before = len(stack.core.backups.list(stack.token, "shop"))
    job = stack.core.backups.restore(stack.token, backup.id)
    failed = stack.run(job.id)
    assert failed.status == "failed" and failed.error_code == "BACKUP_CORRUPT"
    assert "refusing to restore" in failed.error_message
    assert table_checksums(node_names(shop.id)) == before
    assert stack.env("shop", "production").status == "active"
    # The pre-restore backup was never taken: the job stopped at the checksum.
    pre = Backup.get_by_id(sorted(stack.core.backups.list(stack.token, "shop"),
                                  key=lambda b: b.created_at)[-1].id)
    assert len(stack.core.backups.list(stack.token, "shop")) == jobs_before + 1
    assert pre.status == "pending"


def cut_when_a_part_arrives(proxy: FaultProxy, s3: Any, bucket: str, key: str
                            ) -> threading.Thread:
    """Cut ``proxy`` as soon as the upload of ``key`` has its first part: mid-stream."""
    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for upload in s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get(
                    "Uploads", []):
                if s3.list_parts(Bucket=bucket, Key=key,
                                 UploadId=upload["UploadId"]).get("Parts"):
                    proxy.cut()
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def queue_backup(stack: Stack) -> tuple[str, Backup]:
    job = stack.core.backups.create(stack.token, "shop", "production", "full")
    backup_id = json.loads(Job.get_by_id(job.id).payload_json)["backup_id"]
    return job.id, Backup.get_by_id(backup_id)


def retry_now(job_id: str) -> None:
    Job.update(run_after=to_iso(datetime.now(UTC))).where(Job.id == job_id).execute()


@pytest.mark.skipif(BIG_FILE_MB < 50, reason="needs a backup of several parts")
def test_s3_going_away_mid_upload_fails_retries_and_leaves_nothing_half_written(
        stack: Stack, shop: Environment, s3_server: S3Server, bucket: str) -> None:
    s3 = s3_server.client()
    with fault_proxy(int(s3_server.endpoint_url.rsplit(":", 1)[1])) as proxy:
        stack.core.settings.set(stack.token, "s3_endpoint_url",
                                f"http://127.0.0.1:{proxy.port}")
        try:
            job_id, backup = queue_backup(stack)
            watcher = cut_when_a_part_arrives(proxy, s3, bucket, backup.storage_path)
            first = stack.run(job_id)
            watcher.join()
            assert (first.status, first.error_code) == ("queued", "STEP_RETRYABLE"), \
                stack.log(job_id)
            assert Backup.get_by_id(backup.id).status == "failed"
            proxy.restore()
            retry_now(job_id)
            second = stack.run(job_id)
            assert second.status == "succeeded", stack.log(job_id)
        finally:
            stack.core.settings.set(stack.token, "s3_endpoint_url", s3_server.endpoint_url)
    assert Backup.get_by_id(backup.id).status == "completed"
    assert "aborted an incomplete upload left by an earlier attempt" in stack.log(job_id)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


@pytest.mark.skipif(BIG_FILE_MB < 50, reason="needs a backup of several parts")
def test_ssh_dropping_mid_stream_fails_retries_and_leaves_nothing_half_written(
        stack: Stack, shop: Environment, s3_server: S3Server, bucket: str) -> None:
    s3 = s3_server.client()
    node = Node.get(Node.name == stack.node_name)
    with fault_proxy(node.ssh_port) as proxy:
        Node.update(ssh_port=proxy.port).where(Node.id == node.id).execute()
        try:
            job_id, backup = queue_backup(stack)
            watcher = cut_when_a_part_arrives(proxy, s3, bucket, backup.storage_path)
            first = stack.run(job_id)
            watcher.join()
            assert (first.status, first.error_code) == ("queued", "CONNECTION_LOST"), \
                stack.log(job_id)
            assert Backup.get_by_id(backup.id).status == "failed"
            assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
            proxy.restore()
            retry_now(job_id)
            assert stack.run(job_id).status == "succeeded", stack.log(job_id)
        finally:
            Node.update(ssh_port=node.ssh_port).where(Node.id == node.id).execute()
    assert Backup.get_by_id(backup.id).status == "completed"
    tmp = stack.sites_root / shop.site_id / shop.id / "tmp"
    assert not list(tmp.glob("backup-*.sql.zst"))


def test_backup_of_2_gib_keeps_the_control_planes_memory_flat(
        stack: Stack, shop: Environment, bucket: str) -> None:
    """The backup runs in a CLI process of its own, which reports its own peak RSS when
    the job has ended (about 120 MiB: 85 MiB of it is the process before any byte moves)."""
    big = uploads_dir(stack, shop) / "memory-test.bin"
    with open(big, "wb") as handle:
        for _ in range(MEMORY_TEST_MB):
            handle.write(os.urandom(1 << 20))
    try:
        env = dict(os.environ, PRESSLUFT_HOME=str(stack.home), PRESSLUFT_SESSION=stack.token)
        done = subprocess.run([sys.executable, "-c", MEASURED_CLI, "backup", "create", "shop",
                               "production", "--wait"], env=env, capture_output=True,
                              text=True, timeout=1200)
        assert done.returncode == 0, done.stderr[-2000:]
        peak_kib = int(done.stderr.rsplit("peak_rss_kib=", 1)[1].split()[0])
        print(f"peak RSS of the backup process: {peak_kib // 1024} MiB")
        assert peak_kib * 1024 < 150_000_000, f"peak RSS {peak_kib // 1024} MiB"
        newest = stack.core.backups.list(stack.token, "shop", "production")[0]
        assert newest.status == "completed" and newest.size_bytes > MEMORY_TEST_MB * 2**20
    finally:
        big.unlink()


def test_an_expired_clone_is_backed_up_then_removed_from_the_node(
        stack: Stack, shop: Environment, bucket: str) -> None:
    from pressluft_core.db import write_transaction
    from pressluft_core.services.jobs import enqueue

    job = stack.core.environments.clone(stack.token, "shop", "production", "Temp", "temp",
                                        environment_type="clone", expires_in_hours=2)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    temp = stack.env("shop", "temp")
    assert temp.expires_at is not None
    Environment.update(expires_at="2000-01-01T00:00:00Z").where(
        Environment.id == temp.id).execute()
    with write_transaction(stack.core.rt.db):
        expiry = enqueue(stack.core.rt, "env_expiry", payload={})
    assert stack.run(expiry.id).status == "succeeded", stack.log(expiry.id)
    (delete,) = Job.select().where((Job.environment_id == temp.id)
                                   & (Job.job_type == "env_delete"))
    assert stack.run(delete.id).status == "succeeded", stack.log(delete.id)
    backup = Backup.get_by_id(json.loads(delete.payload_json)["backup_id"])
    assert backup.status == "completed" and backup.environment_id == temp.id
    user = node_names(temp.id)
    assert subprocess.run(["id", user], capture_output=True).returncode != 0
    assert user not in mysql("SHOW DATABASES").split()
    assert not (stack.sites_root / temp.site_id / temp.id).exists()
    assert "temp" not in [e.slug for e in stack.core.environments.list(stack.token, "shop")]
    assert http_get(temp.preview_url)[0] == 0  # nginx no longer knows the name: 444


def test_a_restore_drill_proves_the_backup_and_leaves_nothing_behind(
        stack: Stack, shop: Environment, bucket: str) -> None:
    backup = backup_of(stack, "production")
    users_before = subprocess.run(["getent", "passwd"], capture_output=True).stdout
    job = stack.core.backups.verify(stack.token, backup.id)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    checked = Backup.get_by_id(backup.id)
    assert checked.verify_result == "healthy" and checked.verified_at
    assert subprocess.run(["getent", "passwd"], capture_output=True).stdout == users_before
    assert not [e for e in stack.core.environments.list(stack.token, "shop")
                if e.slug.startswith("drill-")]
    drill = Environment.get(Environment.slug.startswith("deleted-")
                            & Environment.name.startswith("Restore drill"))
    assert not (stack.sites_root / drill.site_id / drill.id).exists()


def plugin_zip(path: Path, version: str, body: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("e2e-plugin/e2e-plugin.php",
                    f"<?php\n/*\nPlugin Name: E2E Plugin\nVersion: {version}\n*/\n{body}")
    return path


def test_plugin_update_on_staging_then_a_fatal_one_rolls_back_release_and_database(
        stack: Stack, shop: Environment, bucket: str, tmp_path: Path) -> None:
    staging = stack.env("shop", "staging")
    db = node_names(staging.id)
    with pytest.raises(StateError, match="7 days"):
        stack.core.environments.update(stack.token, "shop", "production", "all",
                                       packages=[("plugin", str(plugin_zip(
                                           tmp_path / "v1.zip", "1.0")))])
    job = stack.core.environments.update(stack.token, "shop", "staging", "all",
                                         packages=[("plugin", str(tmp_path / "v1.zip"))])
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    release = Release.get_by_id(stack.env("shop", "staging").current_release_id)
    assert (Path(release.path) / "wp-content/plugins/e2e-plugin/e2e-plugin.php").is_file()
    assert "plugin: v1.zip" in (release.notes or "") or "plugin" in (release.notes or "")
    mysql("UPDATE wp_options SET option_value = "
          "'a:1:{i:0;s:25:\"e2e-plugin/e2e-plugin.php\";}' WHERE option_name = "
          "'active_plugins'", db)
    assert http_get(staging.preview_url)[0] == 200
    good = stack.env("shop", "staging").current_release_id
    before = table_checksums(db)

    fatal = plugin_zip(tmp_path / "v2.zip", "2.0", "pressluft_e2e_undefined_function();\n")
    job = stack.core.environments.update(stack.token, "shop", "staging", "all",
                                         packages=[("plugin", str(fatal))])
    failed = stack.run(job.id)
    assert (failed.status, failed.error_code) == ("failed", "HEALTH_CHECK_FAILED"), \
        stack.log(job.id)
    assert "database was restored" in failed.error_message
    after = stack.env("shop", "staging")
    assert after.status == "active" and after.current_release_id == good
    assert table_checksums(db) == before
    assert http_get(staging.preview_url)[0] == 200
    assert http_get(shop.preview_url)[0] == 200
    # Production may now take the update that succeeded on staging (v1).
    queued = stack.core.environments.update(stack.token, "shop", "production", "all",
                                            packages=[("plugin", str(tmp_path / "v1.zip"))])
    assert queued.job_type == "env_update"
