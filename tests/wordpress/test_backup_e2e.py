"""Backups on the real stack against a real S3-compatible HTTP server (moto's server
mode): a full backup round trip restores every table and every upload byte for byte; a
production backup restored into staging serves under staging's URL; an altered object is
refused before the target is touched."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.models import Backup, Environment
from tests.s3server import S3Server, s3_server
from tests.wordpress.stack import Stack, http_get, mysql

__all__ = ["s3_server"]
BIG_FILE_MB = int(os.environ.get("PRESSLUFT_TEST_BIG_UPLOAD_MB", "300"))


@pytest.fixture(scope="module")
def bucket(stack: Stack, s3_server: S3Server) -> str:
    name = s3_server.new_bucket()
    core, token = stack.core, stack.token
    core.settings.set(token, "s3_endpoint_url", s3_server.endpoint_url)
    core.settings.set(token, "s3_bucket", name)
    core.settings.set(token, "s3_access_key_id", "testing-access-key")
    core.settings.set(token, "s3_secret_access_key", "testing-secret-key")
    return name


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
