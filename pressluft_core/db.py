"""The control plane's database: SQLite by default, PostgreSQL for scale-out.

Models bind to :data:`database`, a proxy initialised by :func:`open_database`, so one
process can point the same models at a fresh database per test.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import peewee

database = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 30_000,
    "synchronous": "normal",
}


class _SqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose connection pragmas wait out a busy file like any statement does.

    Switching a new file to WAL takes an exclusive lock for which SQLite does not call the
    busy handler: two processes opening a new installation at once (the console and a
    worker) could fail with "database is locked" right at connect. The pragmas are
    idempotent, so they are retried for as long as the busy timeout allows."""

    def _set_pragmas(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + SQLITE_PRAGMAS["busy_timeout"] / 1000
        while True:
            try:
                super()._set_pragmas(conn)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


def dialect_of(db: peewee.Database | peewee.DatabaseProxy) -> str:
    target = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    return "postgresql" if isinstance(target, peewee.PostgresqlDatabase) else "sqlite"


def make_database(url: str | None, sqlite_path: Path) -> peewee.Database:
    """``url`` (from ``PRESSLUFT_DATABASE_URL``) selects PostgreSQL; otherwise SQLite."""
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"PRESSLUFT_DATABASE_URL: unsupported scheme {parsed.scheme!r}; "
                "use postgresql://user:password@host:port/dbname"
            )
        # autoconnect + thread-local connections: each worker thread gets its own.
        return peewee.PostgresqlDatabase(
            url.replace("postgres://", "postgresql://", 1)
        )
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return _SqliteDatabase(str(sqlite_path), pragmas=SQLITE_PRAGMAS, timeout=30)


def open_database(url: str | None, sqlite_path: Path) -> peewee.Database:
    db = make_database(url if url is not None else os.environ.get("PRESSLUFT_DATABASE_URL"),
                       sqlite_path)
    database.initialize(db)
    return db


@contextlib.contextmanager
def write_transaction(db: peewee.Database | peewee.DatabaseProxy) -> Iterator[None]:
    """A transaction that takes the write lock up front.

    SQLite's default deferred ``BEGIN`` fails with "database is locked" when a reader tries
    to upgrade to a writer while another writer committed; ``BEGIN IMMEDIATE`` waits for
    the lock instead (busy timeout). Nested calls become savepoints.
    """
    target = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    if target.transaction_depth() == 0 and dialect_of(target) == "sqlite":
        with target.atomic(lock_type="IMMEDIATE"):
            yield
    else:
        with target.atomic():
            yield
