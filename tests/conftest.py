"""Fixtures shared by the whole suite.

Every test that uses ``core`` runs once on SQLite and once on PostgreSQL (a fresh database
per test on the server the test script started; skipped with a reason when there is none).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import argon2
import psycopg
import pytest

from pressluft_core import migrations
from pressluft_core.app import Pressluft
from pressluft_core.clock import ManualClock
from pressluft_core.db import make_database
from pressluft_core.services import auth as auth_service

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
PG_URL_ENV = "PRESSLUFT_TEST_PG_URL"


# Still argon2id, at a cost that keeps a login in the low milliseconds on a busy CI box
# (production cost is ~0.3 s per hash there, and many tests log in).
FAST_PASSWORD_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1,
                                             type=argon2.Type.ID)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_argon2: hash passwords at production cost in this test")


@pytest.fixture(autouse=True)
def fast_password_hashing(request: pytest.FixtureRequest,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("real_argon2") is None:
        monkeypatch.setattr(auth_service, "_hasher", FAST_PASSWORD_HASHER)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A database migrated to head once per run; each test gets a copy of it, which is
    much faster than running the migrations' DDL again."""
    admin_url = os.environ.get(PG_URL_ENV)
    if not admin_url:
        yield None
        return
    name = f"pltemplate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = make_database(_with_database(admin_url, name), Path("unused"))
    migrations.migrate(db)
    db.close()
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, pg_template: str | None
                 ) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    admin_url = os.environ.get(PG_URL_ENV)
    if not admin_url or not pg_template:
        pytest.skip(f"PostgreSQL: {PG_URL_ENV} not set (scripts/test starts a server)")
    with scratch_pg_database(admin_url, "pltest", template=pg_template) as url:
        yield url


@contextlib.contextmanager
def scratch_pg_database(admin_url: str, prefix: str,
                        template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database for one test (a copy of ``template`` if given), dropped
    afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock("2026-03-01T12:00:00Z")


@pytest.fixture
def core(home: Path, database_url: str | None, clock: ManualClock) -> Iterator[Pressluft]:
    app = Pressluft.open(home, database_url=database_url, clock=clock)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def token(core: Pressluft) -> str:
    core.auth.create_admin(ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD)
    session_token, _user = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    return session_token


@pytest.fixture
def local_node(core: Pressluft, token: str):
    return core.nodes.register(token, "local", "localhost", public_ip="127.0.0.1",
                               is_local=True)
