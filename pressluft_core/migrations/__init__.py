"""Numbered schema migrations, applied in order at start-up.

A migration is a module ``mNNNN_<name>.py`` with ``NAME`` and ``apply(execute, dialect)``.
Applied versions are recorded in ``schema_migrations``; each migration runs in its own
transaction together with its record, so a crash leaves the database at a known version.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

import peewee

from pressluft_core.clock import SystemClock, to_iso
from pressluft_core.db import dialect_of, write_transaction

_MODULE_NAME = re.compile(r"^m(\d{4})_\w+$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    module: ModuleType


def discover() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _MODULE_NAME.match(info.name)
        if match:
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(Migration(int(match.group(1)), module.NAME, module))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def _ensure_version_table(db: peewee.Database) -> None:
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )


def current_version(db: peewee.Database) -> int:
    _ensure_version_table(db)
    row = db.execute_sql("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(db: peewee.Database, target: int | None = None) -> list[int]:
    """Bring ``db`` up to ``target`` (default: the newest); returns the versions applied."""
    dialect = dialect_of(db)
    applied = []
    for migration in discover():
        if target is not None and migration.version > target:
            break
        with write_transaction(db):
            # Re-read inside the write lock: two processes starting at once must not both
            # apply the same migration.
            if dialect == "postgresql":
                db.execute_sql("SELECT pg_advisory_xact_lock(7432001)")
            if migration.version <= current_version(db):
                continue
            migration.module.apply(lambda sql: db.execute_sql(sql), dialect)
            db.execute_sql(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                + ("(?, ?, ?)" if dialect == "sqlite" else "(%s, %s, %s)"),
                (migration.version, migration.name, to_iso(SystemClock().now())),
            )
        applied.append(migration.version)
    return applied


def head_version() -> int:
    return discover()[-1].version
