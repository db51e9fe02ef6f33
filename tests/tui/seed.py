"""Realistic, reproducible console data: several sites, every environment type, nodes in
every state, and jobs queued, running, failed and succeeded — same ids and times on
every run, so snapshots compare."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from pressluft_core.app import Pressluft
from pressluft_core.clock import ManualClock, parse_iso, to_iso, use_id_factory
from pressluft_core.db import write_transaction
from pressluft_core.jobs import queue
from pressluft_core.jobs.logs import log_path
from pressluft_core.models import Backup, Domain, DriftCheck, Environment, Job, Node, Release, Site
from pressluft_core.services.jobs import enqueue
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD


@contextmanager
def reproducible_ids(seed: int = 7) -> Iterator[None]:
    rng = random.Random(seed)
    previous = use_id_factory(lambda: uuid.UUID(int=rng.getrandbits(128), version=4))
    try:
        yield
    finally:
        use_id_factory(previous)


# A throw-away key for screenshots only, so the SSH key dialog looks the same every run.
TEST_CONTROL_KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACAz0nlKPpa8sVvresK9H8WckwQ8gd3U+tjTSthV7RQWfwAAAJgR9uuYEfbr
mAAAAAtzc2gtZWQyNTUxOQAAACAz0nlKPpa8sVvresK9H8WckwQ8gd3U+tjTSthV7RQWfw
AAAEAjkozEfKHvZaI9ENmJjVK5wsRuSWL5epFFW8D0bLZ9BzPSeUo+lryxW+t6wr0fxZyT
BDyB3dT62NNK2FXtFBZ/AAAAEXByZXNzbHVmdEBjb250cm9sAQIDBA==
-----END OPENSSH PRIVATE KEY-----
"""


def install_test_key(core: Pressluft) -> None:
    core.rt.secrets.put("ssh.control-key", TEST_CONTROL_KEY)


def seed_console(core: Pressluft, clock: ManualClock) -> str:
    """Fill an empty installation; returns the admin's session token."""
    install_test_key(core)
    with reproducible_ids():
        core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
        token, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        local = core.nodes.register(token, "local", "localhost", public_ip="203.0.113.10",
                                    is_local=True)
        web2 = core.nodes.register(token, "web-2", "web2.example.net",
                                   public_ip="203.0.113.20", ssh_user="deploy")
        core.nodes.register(token, "old-box", "old.example.net", public_ip="203.0.113.30")
        Node.update(status="active", last_seen_at="2026-03-01T11:58:00Z",
                    os_release="Debian GNU/Linux 12 (bookworm)", php_version="8.2.29",
                    mariadb_version="10.11.14", nginx_version="1.22.1").where(
            Node.id == local.id).execute()
        Node.update(status="active", last_seen_at="2026-03-01T11:59:00Z",
                    os_release="Debian GNU/Linux 13 (trixie)", php_version="8.4.11",
                    mariadb_version="11.8.3", nginx_version="1.26.3").where(
            Node.id == web2.id).execute()
        Node.update(status="unreachable", last_seen_at="2026-02-27T09:00:00Z").where(
            Node.name == "old-box").execute()
        sites = {}
        for slug, name, node in (("acme", "Acme Shop", "local"),
                                 ("blog-berlin", "Blog Berlin", "web-2"),
                                 ("kanzlei", "Kanzlei Müller & Partner", "local"),
                                 ("x-markup", "[bold]x[/] \\[not markup]", "web-2")):
            job = core.sites.create(token, name, slug, node=node)
            sites[slug] = job
        _finish_site(core, sites["acme"], clock)
        _finish_site(core, sites["blog-berlin"], clock)
        _finish_site(core, sites["x-markup"], clock)
        # x-markup moved from local to web-2; its old copy is still on local
        Environment.update(previous_node_id=local.id).where(
            Environment.id == sites["x-markup"].environment_id).execute()
        acme_prod = sites["acme"].environment_id
        acme_envs = {}
        for slug, kind in (("staging", "staging"), ("try-plugin", "clone")):
            env_id = acme_envs[slug] = _add_environment(core, sites["acme"].site_id,
                                                        acme_prod, slug, kind, local.id)
            if kind == "clone":
                Environment.update(drift_status="drifted").where(
                    Environment.id == env_id).execute()
        # kanzlei: site_create running with output; blog: a failed deploy; acme: done
        clock.advance(minutes=1)
        running = queue.claim_next(core.rt, "control:4242", only_job_id=sites["kanzlei"].id)
        queue.set_progress(core.rt, running.id, "control:4242",
                           "step 4/9: installing WordPress")
        path = log_path(core.rt.paths.job_logs_dir, running.id)
        path.write_text("2026-03-01T12:01:00Z ---- step 4/9: installing WordPress\n"
                        "2026-03-01T12:01:01Z out  Success: WordPress installed.\n")
        with write_transaction(core.db):
            failed = enqueue(core.rt, "noop", site_id=sites["blog-berlin"].site_id,
                             node_id=web2.id, payload={"fail": "COMMAND_FAILED"})
        claimed = queue.claim_next(core.rt, "control:4242", only_job_id=failed.id)
        queue.fail(core.rt, claimed, "control:4242", "COMMAND_FAILED",
                   "`git` exited with status 128 on node web-2: the repository was not "
                   "found; check the URL and the deploy key", "fatal: repository not found")
        with write_transaction(core.db):
            enqueue(core.rt, "noop", node_id=web2.id, payload={})
        _release_history(core, acme_prod)
        _backup_history(acme_prod)
        _domains(acme_prod)
        _staging_drifted(acme_envs["staging"])
        return token


HEALTH_CHECKS = {
    "healthy": {"installed": "ok", "db": "ok", "page": "ok", "login": "ok", "php_log": "ok"},
    "unhealthy": {"installed": "ok", "db": "ok", "page": "HTTP 500, 2841 bytes, a PHP error on "
                  "the page: 'There has been a critical error on this website.'",
                  "login": "ok", "php_log": "new PHP fatal error: PHP Fatal error: Uncaught "
                  "Error: Call to undefined function acme_cart() in functions.php:12"},
}
ACME_GIT = "https://git.example.net/acme/shop.git"
ACME_ADMIN = {"user": "pl-admin-acme", "password": "crumpet-Velvet-7-harbour"}


def _release_history(core: Pressluft, env_id: str) -> None:
    """acme production after a few deploys: the first release from the site's creation,
    two healthy git deploys (the newer serving), and a newer one that failed its health
    check and was rolled back automatically. Plus the WordPress login site_create keeps."""
    first = Environment.get_by_id(env_id).current_release_id
    root = "/var/www/sites/wp3f1c2a9b4d7e/releases"
    Release.update(created_at="2026-02-20T09:00:00Z", path=f"{root}/20260220T090000Z").where(
        Release.id == first).execute()
    history = (("20260225T141000Z", "main", "healthy", "commit 4f2a9c1"),
               ("20260301T114000Z", "v2.1.0", "healthy", "commit 9be01d7"),
               ("20260301T115200Z", "feature/checkout", "unhealthy",
                "health check failed (HTTP 500); rolled back automatically"))
    ids = []
    for name, ref, health, notes in history:
        release = str(uuid.UUID(int=random.Random(f"{env_id}/{name}").getrandbits(128),
                                version=4))
        created = f"{name[:4]}-{name[4:6]}-{name[6:8]}T{name[9:11]}:{name[11:13]}:{name[13:15]}Z"
        Release.insert(id=release, environment_id=env_id, source_type="git",
                       source_ref=f"{ACME_GIT}#{ref}", path=f"{root}/{name}",
                       health_status=health, notes=notes, created_at=created,
                       health_checks=json.dumps(HEALTH_CHECKS[health])).execute()
        ids.append(release)
    Environment.update(current_release_id=ids[1]).where(Environment.id == env_id).execute()
    core.rt.secrets.put(f"env.{env_id}.wp_admin", json.dumps(ACME_ADMIN))


def _finish_site(core: Pressluft, job, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    now = "2026-03-01T12:00:00Z"
    release = str(uuid.UUID(int=random.Random(job.site_id).getrandbits(128), version=4))
    Release.insert(id=release, environment_id=job.environment_id, source_type="upload",
                   source_ref="wordpress-6.4", path="/var/www/sites/x/releases/20260301T120000Z",
                   health_status="healthy", created_at=now).execute()
    Environment.update(status="active", current_release_id=release).where(
        Environment.id == job.environment_id).execute()
    Site.update(status="active").where(Site.id == job.site_id).execute()
    Job.update(status="succeeded", attempt_count=1, started_at=now, finished_at=now,
               progress="step 9/9: health check").where(Job.id == job.id).execute()


def _add_environment(core: Pressluft, site_id: str, source_id: str, slug: str, kind: str,
                     node_id: str) -> str:
    from pressluft_core.clock import new_id

    env_id = new_id()
    now = "2026-03-01T12:00:00Z"
    Environment.insert(id=env_id, site_id=site_id, name=slug.title(), slug=slug,
                       environment_type=kind, status="active", node_id=node_id,
                       source_environment_id=source_id, promotion_preset="commerce-protect",
                       preview_url=f"http://{env_id[:8]}.203-0-113-10.sslip.io",
                       drift_status="clean", drift_checked_at=now, created_at=now,
                       updated_at=now).execute()
    return env_id


def _seeded_id(name: str) -> str:
    """An id of its own per name: rows added here do not shift the ids made before."""
    return str(uuid.UUID(int=random.Random(name).getrandbits(128), version=4))


def _backup_history(env_id: str) -> None:
    """acme production's backups: nightly full ones (the newest proven restorable by a
    drill, an older one whose drill failed), a database backup before an update, a failed
    and an expired one."""
    rows = (  # created, scope, status, size, verified at, verdict
        ("2026-03-01T03:00:12Z", "full", "completed", 1_395_864_371,
         "2026-03-01T05:02:10Z", "healthy"),
        ("2026-02-28T16:20:05Z", "db", "completed", 48_234_496, None, None),
        ("2026-02-28T03:00:09Z", "full", "completed", 1_388_101_222, None, None),
        ("2026-02-27T03:00:11Z", "full", "failed", None, None, None),
        ("2026-02-22T03:00:10Z", "full", "completed", 1_301_553_990, "2026-02-22T05:01:00Z",
         "unhealthy: HTTP 500 from / (PHP Fatal error in wp-content/plugins/shop-tax)"),
        ("2026-01-25T03:00:08Z", "full", "expired", 1_254_000_117, None, None),
    )
    for created, scope, status, size, verified, verdict in rows:
        backup_id = _seeded_id(f"{env_id}/backup/{created}")
        keep = to_iso(parse_iso(created) + timedelta(days=30))
        Backup.insert(
            id=backup_id, environment_id=env_id, backup_scope=scope, status=status,
            storage_type="s3",
            storage_path=f"pressluft/acme/production/{backup_id}.tar.zst",
            retention_until=keep, checksum=(hashlib.sha256(created.encode()).hexdigest()
                                            if status != "failed" else None),
            size_bytes=size, created_at=created,
            completed_at=created[:14] + "14:40Z" if status != "failed" else None,
            verified_at=verified, verify_result=verdict).execute()


def _domains(env_id: str) -> None:
    """acme production's domains: the primary one with an active certificate that expires
    within the warning window (renewal is overdue), and one whose certificate failed
    because its DNS points elsewhere."""
    rows = (  # host name, status, expires, checked, error
        ("shop.acme.example", "active", "2026-03-14T08:00:00Z", "2026-03-01T04:00:00Z", None),
        ("www.acme.example", "failed", None, "2026-02-28T17:30:00Z",
         "DNS: www.acme.example resolves to 198.51.100.7, not the node's 203.0.113.10"),
    )
    ids = []
    for hostname, status, expires, checked, error in rows:
        domain_id = _seeded_id(f"{env_id}/domain/{hostname}")
        Domain.insert(id=domain_id, environment_id=env_id, hostname=hostname,
                      tls_status=status, tls_issuer="letsencrypt",
                      created_at="2026-02-20T09:30:00Z", updated_at=checked,
                      expires_at=expires, tls_checked_at=checked, tls_error=error).execute()
        ids.append(domain_id)
    Environment.update(primary_domain_id=ids[0]).where(Environment.id == env_id).execute()


# What a drift check of acme staging found: orders, a comment and uploads that arrived in
# production since the clone (kept by commerce-protect), and options it would overwrite.
DRIFTED_REPORT = {
    "status": "drifted",
    "protected": [{"table": "wp_comments", "change": "changed", "row_delta": 1},
                  {"table": "wp_wc_orders", "change": "changed", "row_delta": 2},
                  {"table": "wp_woocommerce_order_items", "change": "changed",
                   "row_delta": 3}],
    "paths": [{"path": "wp-content/uploads", "added": ["2026/03/invoice-1042.pdf",
                                                       "2026/03/hero-spring.jpg"],
               "changed": [], "removed": []}],
    "overwritten": [{"table": "wp_options", "change": "changed", "row_delta": 0}],
}
STAGING_TABLES = ["wp_commentmeta", "wp_comments", "wp_links", "wp_options", "wp_postmeta",
                  "wp_posts", "wp_term_relationships", "wp_term_taxonomy", "wp_termmeta",
                  "wp_terms", "wp_usermeta", "wp_users", "wp_wc_orders",
                  "wp_woocommerce_order_items"]


def record_drift(env_id: str, checked_at: str, report: dict[str, object] | None,
                 *, check_id: str | None = None) -> str:
    """A ``drift_checks`` row as ``record_drift_check`` writes it (report None: the
    baseline), and the environment pointing at it."""
    check_id = check_id or _seeded_id(f"{env_id}/drift/{checked_at}")
    status = report["status"] if report else "clean"
    db = {"tables": {}, "others": {}, "report": report, "source_tables": STAGING_TABLES,
          "prefix": "wp_", "baseline": report is None}
    DriftCheck.insert(id=check_id, environment_id=env_id, promotion_preset="commerce-protect",
                      status=status, db_checksums_json=json.dumps(db, sort_keys=True),
                      file_checksums_json="{}", checked_at=checked_at).execute()
    Environment.update(drift_status=status, drift_checked_at=checked_at,
                       last_drift_check_id=check_id).where(Environment.id == env_id).execute()
    return check_id


def _staging_drifted(env_id: str) -> None:
    """acme staging: a release cloned from production, its baseline, and a drift check a
    few seconds old that found production drifted."""
    release = _seeded_id(f"{env_id}/release")
    Release.insert(id=release, environment_id=env_id, source_type="git",
                   source_ref=f"{ACME_GIT}#v2.1.0",
                   path="/var/www/sites/wp8d20e6c1f5a3/releases/20260301T120000Z",
                   health_status="healthy", notes="cloned from production release "
                   "20260301T114000Z", created_at="2026-03-01T12:00:00Z").execute()
    Environment.update(current_release_id=release).where(Environment.id == env_id).execute()
    record_drift(env_id, "2026-03-01T12:00:00Z", None)
    record_drift(env_id, "2026-03-01T12:00:40Z", DRIFTED_REPORT)
