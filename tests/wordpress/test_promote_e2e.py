"""Drift checks and promotion end to end on the real stack (issue 7): staging's theme and
settings go up; production's orders, comments and uploads made meanwhile stay; a probe
sees only 200s throughout; a failing promotion leaves production exactly as it was."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pressluft_core.clock import to_iso
from pressluft_core.errors import StateError, ValidationError
from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.models import DriftCheck, Environment, Release
from tests.s3server import S3Server, s3_server
from tests.wordpress.stack import Stack, http_get, mysql
from tests.wordpress.test_site_e2e import make_theme_repo

__all__ = ["s3_server"]

ORDERS = ("CREATE TABLE wp_wc_orders (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
          "status VARCHAR(20), total_amount DECIMAL(26,8), customer_note TEXT); "
          "CREATE TABLE wp_woocommerce_order_items (order_item_id BIGINT UNSIGNED NOT NULL "
          "AUTO_INCREMENT PRIMARY KEY, order_item_name TEXT, order_id BIGINT UNSIGNED); "
          "INSERT INTO wp_wc_orders (status, total_amount, customer_note) VALUES "
          "('wc-completed', 19.90, 'first'), ('wc-processing', 5.00, 'second'); "
          "INSERT INTO wp_woocommerce_order_items (order_item_name, order_id) VALUES "
          "('Mug', 1), ('Shirt', 2);")


def add_post(db: str, title: str) -> None:
    mysql("INSERT INTO wp_posts (post_author, post_date, post_date_gmt, post_content, "
          "post_title, post_excerpt, post_status, to_ping, pinged, post_content_filtered, "
          "post_modified, post_modified_gmt, guid, post_type, post_mime_type) VALUES (1, NOW(), "
          f"NOW(), 'body', '{title}', '', 'publish', '', '', '', NOW(), NOW(), '', 'post', '')",
          db)


def option(db: str, name: str) -> str:
    return mysql(f"SELECT option_value FROM wp_options WHERE option_name = '{name}'",
                 db).strip()


def all_checksums(db: str) -> dict[str, str]:
    return {t: mysql(f"CHECKSUM TABLE `{t}`", db).split()[-1]
            for t in mysql("SHOW TABLES", db).split()}


@pytest.fixture(scope="module")
def shop(stack: Stack, s3_server: S3Server) -> tuple[Environment, Environment]:
    core, token = stack.core, stack.token
    s3_server.configure(core, token)
    job = core.sites.create(token, "Promo Shop", "promo", node=stack.node_name,
                            promotion_preset="commerce-protect")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    prod = stack.env("promo", "production")
    db = node_names(prod.id)
    mysql(ORDERS, db)
    add_post(db, "Launch post")
    mysql("INSERT INTO wp_comments (comment_post_ID, comment_author, comment_date, "
          "comment_date_gmt, comment_content, comment_approved, comment_type) VALUES "
          "(1, 'Ann', NOW(), NOW(), 'Nice', '1', 'comment')", db)
    url = prod.preview_url
    mysql("INSERT INTO wp_options (option_name, option_value, autoload) VALUES "
          f"('promo_banner', 'a:1:{{s:3:\"url\";s:{len(url)}:\"{url}\";}}', 'no')", db)
    uploads = stack.sites_root / prod.site_id / prod.id / "shared" / "uploads"
    (uploads / "logo.png").write_bytes(b"\x89PNG logo")
    subprocess.run(["chown", "-R", f"{db}:{db}", str(uploads)], check=True)
    job = core.environments.clone(token, "promo", "production", "Staging", "staging")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    return prod, stack.env("promo", "staging")


@pytest.fixture(scope="module")
def changed(stack: Stack, shop: tuple[Environment, Environment]) -> Path:
    """Staging: new theme (deployed from git), new blogname, a new post. Production
    meanwhile: a new order, a comment, an upload."""
    prod, staging = shop
    repo = stack.sites_root.parent / f"promo-repo-{stack.sites_root.name}"
    make_theme_repo(repo)
    job = stack.core.environments.deploy(stack.token, "promo", "staging", git_url=str(repo),
                                         git_ref="main")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    sdb, pdb = node_names(staging.id), node_names(prod.id)
    mysql("UPDATE wp_options SET option_value = 'e2e-theme' WHERE option_name IN "
          "('template', 'stylesheet'); UPDATE wp_options SET option_value = 'Staged Name' "
          "WHERE option_name = 'blogname'", sdb)
    add_post(sdb, "Staging only post")
    mysql("INSERT INTO wp_wc_orders (status, total_amount, customer_note) VALUES "
          "('wc-processing', 42.00, 'order during staging')", pdb)
    mysql("INSERT INTO wp_comments (comment_post_ID, comment_author, comment_date, "
          "comment_date_gmt, comment_content, comment_approved, comment_type) VALUES "
          "(1, 'Bob', NOW(), NOW(), 'Live comment', '1', 'comment')", pdb)
    upload = stack.sites_root / prod.site_id / prod.id / "shared" / "uploads" / "live.jpg"
    upload.write_bytes(b"live upload")
    subprocess.run(["chown", f"{pdb}:{pdb}", str(upload)], check=True)
    return repo


@pytest.fixture
def probe(shop: tuple[Environment, Environment]) -> Iterator[list[int]]:
    """GET production every 50 ms while the test runs; the statuses seen."""
    prod, _ = shop
    seen: list[int] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                seen.append(http_get(prod.preview_url)[0])
            except OSError:
                seen.append(-1)
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield seen
    stop.set()
    thread.join()


def drift_check(stack: Stack) -> DriftCheck:
    job = stack.core.promotion.drift(stack.token, "promo", "staging")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    return DriftCheck.get_by_id(stack.env("promo", "staging").last_drift_check_id)


def test_promotion_is_refused_without_a_fresh_drift_check(
        stack: Stack, shop: tuple[Environment, Environment], changed: Path) -> None:
    _, staging = shop
    check = drift_check(stack)
    DriftCheck.update(checked_at=to_iso(datetime.now(UTC) - timedelta(minutes=20))).where(
        DriftCheck.id == check.id).execute()
    with pytest.raises(StateError, match="min old"):
        stack.core.promotion.promote(stack.token, "promo", "staging", confirm="promo")
    Environment.update(last_drift_check_id=None).where(Environment.id == staging.id).execute()
    with pytest.raises(StateError, match="no drift check"):
        stack.core.promotion.promote(stack.token, "promo", "staging", confirm="promo")


def test_drift_check_names_the_order_table_the_comments_and_the_new_upload(
        stack: Stack, shop: tuple[Environment, Environment], changed: Path) -> None:
    check = drift_check(stack)
    assert check.status == "drifted"
    plan = stack.core.promotion.plan(stack.token, "promo", "staging")
    report = plan["report"]
    tables = {item["table"] for item in report["protected"]}
    assert {"wp_wc_orders", "wp_comments"} <= tables
    assert any("live.jpg" in path["added"] for path in report["paths"])
    assert plan["needs_typed_confirmation"] and plan["blocked_by"] is None
    assert "wp_options" in plan["copied_tables"] and "wp_posts" not in plan["copied_tables"]
    assert "wp_wc_orders" in plan["protected_tables"]
    with pytest.raises(ValidationError, match="promo"):
        stack.core.promotion.promote(stack.token, "promo", "staging")


def test_promotion_takes_staging_up_and_keeps_production_data(
        stack: Stack, shop: tuple[Environment, Environment], changed: Path,
        probe: list[int]) -> None:
    prod, staging = shop
    drift_check(stack)
    job = stack.core.promotion.promote(stack.token, "promo", "staging", confirm="promo")
    done = stack.run(job.id)
    assert done.status == "succeeded", stack.log(job.id)
    time.sleep(0.3)
    assert probe and set(probe) == {200}, sorted(set(probe))
    pdb = node_names(prod.id)
    assert option(pdb, "blogname") == "Staged Name"
    status, body = http_get(prod.preview_url)
    assert status == 200 and b"deployed-by-pressluft-e2e" in body
    assert "order during staging" in mysql("SELECT customer_note FROM wp_wc_orders", pdb)
    assert "Live comment" in mysql("SELECT comment_content FROM wp_comments", pdb)
    assert (stack.sites_root / prod.site_id / prod.id / "shared/uploads/live.jpg").exists()
    assert "Staging only post" not in mysql("SELECT post_title FROM wp_posts", pdb)
    dump = subprocess.run(["mysqldump", pdb], capture_output=True, check=True).stdout
    assert staging.preview_url.split("://")[1].encode() not in dump
    assert option(pdb, "blog_public") == "1"  # staging's quarantine did not go up


def test_a_failing_promotion_leaves_production_exactly_as_it_was(
        stack: Stack, shop: tuple[Environment, Environment], changed: Path) -> None:
    prod, _ = shop
    release = Path(Release.get_by_id(stack.env("promo", "staging").current_release_id).path)
    functions = release / "wp-content/themes/e2e-theme/functions.php"
    functions.write_text("<?php\npressluft_promote_fatal();\n")
    pdb = node_names(prod.id)
    before_tables = all_checksums(pdb)
    before_release = stack.env("promo", "production").current_release_id
    drift_check(stack)
    job = stack.core.promotion.promote(stack.token, "promo", "staging", confirm="promo")
    failed = stack.run(job.id)
    assert (failed.status, failed.error_code) == ("failed", "HEALTH_CHECK_FAILED"), \
        stack.log(job.id)
    assert "swapped back" in failed.error_message
    after = stack.env("promo", "production")
    assert after.status == "active" and after.current_release_id == before_release
    assert all_checksums(pdb) == before_tables
    assert http_get(prod.preview_url)[0] == 200
