"""Migrations: a database made by migration 1 upgrades in place to head without losing a row,
every version is recorded once, and a second run applies nothing."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
import pytest

from pressluft_core import migrations
from pressluft_core.app import Pressluft
from pressluft_core.db import make_database
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FAST_PASSWORD_HASHER,
    PG_URL_ENV,
    scratch_pg_database,
)

T0 = "2025-12-01T10:00:00Z"
NODE, USER, SITE, ENV = "n0000000-0000-4000-8000-000000000001", "u1", "s1", "e1"

# One row in every seed table, written as a version-1 installation would have.
V1_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("nodes", {"id": NODE, "name": "old-node", "hostname": "node1.example.com",
               "public_ip": "203.0.113.7", "ssh_port": 22, "ssh_user": "root",
               "status": "active", "is_local": 1, "last_seen_at": T0, "created_at": T0,
               "updated_at": T0, "state_version": 4}),
    ("users", {"id": USER, "email": ADMIN_EMAIL, "display_name": "Old Admin", "role": "admin",
               "password_hash": FAST_PASSWORD_HASHER.hash(ADMIN_PASSWORD),
               "is_active": 1, "created_at": T0, "updated_at": T0}),
    ("sites", {"id": SITE, "name": "Old Blog", "slug": "old-blog", "status": "active",
               "created_at": T0, "updated_at": T0}),
    ("environments", {"id": ENV, "site_id": SITE, "name": "Production",
                      "slug": "production", "environment_type": "production",
                      "status": "active", "node_id": NODE,
                      "promotion_preset": "content-protect",
                      "preview_url": "http://e1.203-0-113-7.sslip.io",
                      "drift_status": "unknown", "created_at": T0, "updated_at": T0}),
    ("releases", {"id": "r1", "environment_id": ENV, "source_type": "upload",
                  "source_ref": "site.tar.gz", "path": "/var/www/r1",
                  "health_status": "healthy", "created_at": T0}),
    ("backups", {"id": "b1", "environment_id": ENV, "backup_scope": "full",
                 "status": "completed", "storage_type": "s3", "storage_path": "p/b1.tar.zst",
                 "retention_until": "2025-12-31T10:00:00Z", "checksum": "ab" * 32,
                 "size_bytes": 12345678901, "created_at": T0, "completed_at": T0}),
    ("domains", {"id": "d1", "environment_id": ENV, "hostname": "old-blog.example.com",
                 "tls_status": "active", "tls_issuer": "letsencrypt", "created_at": T0,
                 "updated_at": T0}),
    ("drift_checks", {"id": "dc1", "environment_id": ENV, "promotion_preset": "content-protect",
                      "status": "clean", "db_checksums_json": "{}", "checked_at": T0}),
    ("jobs", {"id": "j1", "job_type": "site_create", "status": "succeeded", "site_id": SITE,
              "environment_id": ENV, "node_id": NODE, "payload_json": '{"site_id": "s1"}',
              "attempt_count": 1, "run_after": T0, "created_at": T0, "updated_at": T0}),
    ("auth_sessions", {"id": "as1", "user_id": USER, "session_token": "0" * 64,
                       "expires_at": T0, "created_at": T0}),
    ("audit_logs", {"id": "al1", "user_id": USER, "action": "site.create",
                    "resource_type": "site", "resource_id": SITE, "result": "ok",
                    "created_at": T0}),
    ("settings", {"key": "s3_bucket", "value": "old-backups", "updated_at": T0}),
]
LATE_UPDATES = [
    ("sites", "primary_environment_id", ENV, SITE),
    ("environments", "current_release_id", "r1", ENV),
    ("environments", "primary_domain_id", "d1", ENV),
    ("environments", "last_drift_check_id", "dc1", ENV),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Like conftest's, but the PostgreSQL database is empty, not a migrated template."""
    if request.param == "sqlite":
        yield None
        return
    admin_url = os.environ.get(PG_URL_ENV)
    if not admin_url:
        pytest.skip(f"PostgreSQL: {PG_URL_ENV} not set (scripts/test starts a server)")
    with scratch_pg_database(admin_url, "plmig") as url:
        yield url


@pytest.fixture
def db_home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def raw_db(database_url: str | None, db_home: Path) -> Iterator[peewee.Database]:
    """An empty database, not bound to the models, at the place ``Pressluft.open`` looks."""
    db = make_database(database_url, db_home / "pressluft.db")
    db.connect()
    try:
        yield db
    finally:
        if not db.is_closed():
            db.close()


def _insert_v1_rows(db: peewee.Database) -> None:
    p = db.param
    with db.atomic():
        for table, row in V1_ROWS:
            columns = ", ".join(row)
            marks = ", ".join([p] * len(row))
            db.execute_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                           tuple(row.values()))
        for table, column, value, row_id in LATE_UPDATES:
            db.execute_sql(f"UPDATE {table} SET {column} = {p} WHERE id = {p}",
                           (value, row_id))


def _snapshot(db: peewee.Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every seed row, column by column (version-1 columns only)."""
    result = {}
    for table, row in V1_ROWS:
        key = "key" if table == "settings" else "id"
        columns = sorted({*row, *(c for t, c, _v, _i in LATE_UPDATES if t == table)})
        result[table] = db.execute_sql(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}").fetchall()
    return result


def _versions(db: peewee.Database) -> list[tuple[int, str]]:
    rows = db.execute_sql("SELECT version, name FROM schema_migrations ORDER BY version")
    return [(int(v), n) for v, n in rows.fetchall()]


def test_migrations_are_numbered_without_gaps() -> None:
    found = migrations.discover()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert len(found) >= 2
    assert all(isinstance(m.name, str) and m.name for m in found)
    assert migrations.head_version() == found[-1].version


def test_migrate_to_version_1_only(raw_db: peewee.Database) -> None:
    assert migrations.migrate(raw_db, target=1) == [1]
    assert migrations.current_version(raw_db) == 1
    assert _versions(raw_db) == [(1, "seed schema")]
    # Migration 2's table does not exist yet.
    with pytest.raises(peewee.DatabaseError), raw_db.atomic():
        raw_db.execute_sql("SELECT COUNT(*) FROM login_throttle")


def test_upgrade_from_version_1_keeps_every_row(
    raw_db: peewee.Database, db_home: Path, database_url: str | None
) -> None:
    migrations.migrate(raw_db, target=1)
    _insert_v1_rows(raw_db)
    before = _snapshot(raw_db)
    assert all(len(rows) == 1 for rows in before.values())

    head = migrations.head_version()
    assert migrations.migrate(raw_db) == list(range(2, head + 1))
    assert _snapshot(raw_db) == before
    assert [v for v, _ in _versions(raw_db)] == list(range(1, head + 1))
    assert [n for _, n in _versions(raw_db)] == [m.name for m in migrations.discover()]

    # Running again applies nothing and records nothing twice.
    assert migrations.migrate(raw_db) == []
    assert len(_versions(raw_db)) == head
    raw_db.close()

    # The upgraded installation works through the services: the old admin logs in and sees
    # the old site, node and job.
    app = Pressluft.open(db_home, database_url=database_url or "")
    try:
        assert app.backend == ("postgresql" if database_url else "sqlite")
        token, user = app.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert user.id == USER
        assert [s.slug for s in app.sites.list(token)] == ["old-blog"]
        assert app.sites.get(token, "old-blog").primary_environment_id == ENV
        assert app.nodes.get(token, "old-node").state_version == 4
        assert app.environments.get(token, "old-blog", "production").current_release_id == "r1"
        assert app.jobs.get(token, "j1").status == "succeeded"
        assert app.settings.get(token, "s3_bucket").value == "old-backups"
        assert app.jobs.get(token, "j1").max_attempts == 3  # the column default held
    finally:
        app.close()


def test_opening_an_installation_migrates_it_once(
    db_home: Path, database_url: str | None
) -> None:
    for _ in range(2):
        app = Pressluft.open(db_home, database_url=database_url or "")
        try:
            versions = _versions(app.db)
        finally:
            app.close()
        assert [v for v, _ in versions] == list(range(1, migrations.head_version() + 1))


def test_concurrent_migrations_apply_each_version_once(
    database_url: str | None, db_home: Path
) -> None:
    """Two processes starting at once (here: two connections in two threads), on a new
    file too: both switch it to WAL at connect (see ``_SqliteDatabase``)."""
    barrier = threading.Barrier(2, timeout=30)  # a thread that failed must not hang the other
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        db = make_database(database_url, db_home / "pressluft.db")
        try:
            db.connect()
            barrier.wait()
            applied.append(migrations.migrate(db))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    head = migrations.head_version()
    assert sorted(applied[0] + applied[1]) == list(range(1, head + 1))
    db = make_database(database_url, db_home / "pressluft.db")
    try:
        assert [v for v, _ in _versions(db)] == list(range(1, head + 1))
    finally:
        db.close()
