"""The schema, read back from the database itself, against the seed (``seed/data-model.md``).

The expected spec below is the seed's column lines copied verbatim, parsed here: it does not
come from the migrations, so a migration that drifts from the seed fails these tests.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import peewee
import pytest

from pressluft_core import migrations, models
from pressluft_core.app import Pressluft

# -- the seed, verbatim -------------------------------------------------------------------

SEED_TABLES: dict[str, str] = {
    "sites": """
        id TEXT PRIMARY KEY
        name TEXT NOT NULL
        slug TEXT NOT NULL UNIQUE
        status TEXT NOT NULL
        primary_environment_id TEXT NULL REFERENCES environments(id)
        created_at TEXT NOT NULL
        updated_at TEXT NOT NULL
        state_version INTEGER NOT NULL DEFAULT 1
    """,
    "environments": """
        id TEXT PRIMARY KEY
        site_id TEXT NOT NULL REFERENCES sites(id)
        name TEXT NOT NULL
        slug TEXT NOT NULL
        environment_type TEXT NOT NULL
        status TEXT NOT NULL
        node_id TEXT NOT NULL REFERENCES nodes(id)
        source_environment_id TEXT NULL REFERENCES environments(id)
        promotion_preset TEXT NOT NULL
        preview_url TEXT NOT NULL
        primary_domain_id TEXT NULL REFERENCES domains(id)
        current_release_id TEXT NULL REFERENCES releases(id)
        drift_status TEXT NOT NULL
        drift_checked_at TEXT NULL
        last_drift_check_id TEXT NULL REFERENCES drift_checks(id)
        created_at TEXT NOT NULL
        updated_at TEXT NOT NULL
        state_version INTEGER NOT NULL DEFAULT 1
    """,
    "nodes": """
        id TEXT PRIMARY KEY
        name TEXT NOT NULL
        hostname TEXT NOT NULL
        public_ip TEXT NULL
        ssh_port INTEGER NOT NULL
        ssh_user TEXT NOT NULL
        status TEXT NOT NULL
        is_local INTEGER NOT NULL
        last_seen_at TEXT NULL
        created_at TEXT NOT NULL
        updated_at TEXT NOT NULL
        state_version INTEGER NOT NULL DEFAULT 1
    """,
    "releases": """
        id TEXT PRIMARY KEY
        environment_id TEXT NOT NULL REFERENCES environments(id)
        source_type TEXT NOT NULL
        source_ref TEXT NOT NULL
        path TEXT NOT NULL
        health_status TEXT NOT NULL
        notes TEXT NULL
        created_at TEXT NOT NULL
    """,
    "backups": """
        id TEXT PRIMARY KEY
        environment_id TEXT NOT NULL REFERENCES environments(id)
        backup_scope TEXT NOT NULL
        status TEXT NOT NULL
        storage_type TEXT NOT NULL
        storage_path TEXT NOT NULL
        retention_until TEXT NOT NULL
        checksum TEXT NULL
        size_bytes INTEGER NULL
        created_at TEXT NOT NULL
        completed_at TEXT NULL
    """,
    "domains": """
        id TEXT PRIMARY KEY
        environment_id TEXT NOT NULL REFERENCES environments(id)
        hostname TEXT NOT NULL UNIQUE
        tls_status TEXT NOT NULL
        tls_issuer TEXT NOT NULL
        created_at TEXT NOT NULL
        updated_at TEXT NOT NULL
    """,
    "jobs": """
        id TEXT PRIMARY KEY
        job_type TEXT NOT NULL
        status TEXT NOT NULL
        site_id TEXT NOT NULL REFERENCES sites(id)
        environment_id TEXT NULL REFERENCES environments(id)
        node_id TEXT NULL REFERENCES nodes(id)
        payload_json TEXT NOT NULL
        attempt_count INTEGER NOT NULL
        max_attempts INTEGER NOT NULL DEFAULT 3
        run_after TEXT NULL
        locked_at TEXT NULL
        locked_by TEXT NULL
        started_at TEXT NULL
        finished_at TEXT NULL
        error_code TEXT NULL
        error_message TEXT NULL
        created_at TEXT NOT NULL
        updated_at TEXT NOT NULL
    """,
    "users": """
        id TEXT PRIMARY KEY
        email TEXT NOT NULL UNIQUE
        display_name TEXT NOT NULL
        role TEXT NOT NULL
        password_hash TEXT NOT NULL
        is_active INTEGER NOT NULL
        created_at TEXT NOT NULL
        updated_at TEXT NOT NULL
    """,
    "auth_sessions": """
        id TEXT PRIMARY KEY
        user_id TEXT NOT NULL REFERENCES users(id)
        session_token TEXT NOT NULL UNIQUE
        expires_at TEXT NOT NULL
        created_at TEXT NOT NULL
        revoked_at TEXT NULL
    """,
    "drift_checks": """
        id TEXT PRIMARY KEY
        environment_id TEXT NOT NULL REFERENCES environments(id)
        promotion_preset TEXT NOT NULL
        status TEXT NOT NULL
        db_checksums_json TEXT NULL
        file_checksums_json TEXT NULL
        checked_at TEXT NOT NULL
    """,
    "audit_logs": """
        id TEXT PRIMARY KEY
        user_id TEXT NOT NULL REFERENCES users(id)
        action TEXT NOT NULL
        resource_type TEXT NOT NULL
        resource_id TEXT NOT NULL
        result TEXT NOT NULL
        created_at TEXT NOT NULL
    """,
    "settings": """
        key TEXT PRIMARY KEY
        value TEXT NOT NULL
        updated_at TEXT NOT NULL
    """,
}

# Seed "Indexes:" sections (column tuples), besides the single-column UNIQUEs above.
SEED_UNIQUE_INDEXES = {"environments": {("site_id", "slug")}}
SEED_INDEXES = {"jobs": {("status", "run_after"), ("site_id", "status")}}

# DESIGN.md §2: the one deliberate deviation.
NULLABLE_DEVIATIONS = {("jobs", "site_id")}
# The seed assumes SQLite, whose INTEGER is 64-bit; PostgreSQL needs BIGINT for the same range
# (a backup's size in bytes passes 2**31 at 2 GiB).
POSTGRESQL_BIGINT = {("backups", "size_bytes")}


@dataclass(frozen=True)
class Column:
    type: str
    not_null: bool
    default: str | None
    primary_key: bool


@dataclass
class Table:
    columns: dict[str, Column] = field(default_factory=dict)
    unique: set[tuple[str, ...]] = field(default_factory=set)  # full (non-partial), PK aside
    indexes: set[tuple[str, ...]] = field(default_factory=set)  # non-unique
    foreign_keys: set[tuple[str, str, str]] = field(default_factory=set)  # col, table, col


def expected_schema() -> dict[str, Table]:
    schema: dict[str, Table] = {}
    for name, text in SEED_TABLES.items():
        table = Table()
        for line in text.strip().splitlines():
            column, sql_type, rest = [*line.split(None, 2), ""][:3]
            primary_key = "PRIMARY KEY" in rest
            not_null = primary_key or "NOT NULL" in rest
            if (name, column) in NULLABLE_DEVIATIONS:
                not_null = False
            default = re.search(r"DEFAULT (\S+)", rest)
            table.columns[column] = Column(sql_type, not_null,
                                           default.group(1) if default else None, primary_key)
            if "UNIQUE" in rest:
                table.unique.add((column,))
            ref = re.search(r"REFERENCES (\w+)\((\w+)\)", rest)
            if ref:
                table.foreign_keys.add((column, ref.group(1), ref.group(2)))
        table.unique |= SEED_UNIQUE_INDEXES.get(name, set())
        table.indexes |= SEED_INDEXES.get(name, set())
        schema[name] = table
    return schema


# -- reading the schema back --------------------------------------------------------------

Query = Callable[[str], Sequence[Sequence[Any]]]


def _default(text: Any) -> str | None:
    """'1', '(1)', '1::integer', "'x'::text" → comparable text."""
    if text is None:
        return None
    value = str(text).strip()
    while value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    return value.split("::")[0].strip()


def read_sqlite(query: Query) -> dict[str, Table]:
    schema: dict[str, Table] = {}
    names = [row[0] for row in query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for name in names:
        table = Table()
        for _cid, column, sql_type, not_null, default, pk in query(
                f'PRAGMA table_info("{name}")'):
            table.columns[column] = Column(str(sql_type).upper(), bool(not_null),
                                           _default(default), pk > 0)
        for _seq, index, unique, origin, partial in query(f'PRAGMA index_list("{name}")'):
            if origin == "pk" or partial:
                continue
            info = sorted(query(f'PRAGMA index_info("{index}")'))
            columns = tuple(row[2] for row in info)
            (table.unique if unique else table.indexes).add(columns)
        table.foreign_keys = {(row[3], row[2], row[4])
                              for row in query(f'PRAGMA foreign_key_list("{name}")')}
        schema[name] = table
    return schema


def read_postgresql(query: Query) -> dict[str, Table]:
    schema: dict[str, Table] = {}
    for name, column, data_type, nullable, default in query(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "ORDER BY table_name, ordinal_position"):
        table = schema.setdefault(name, Table())
        table.columns[column] = Column(str(data_type).upper(), nullable == "NO",
                                       _default(default), False)
    for name, unique, primary, partial, columns in query(
            "SELECT t.relname, ix.indisunique, ix.indisprimary, ix.indpred IS NOT NULL, "
            "ARRAY(SELECT a.attname FROM unnest(ix.indkey::int2[]) WITH ORDINALITY "
            "AS k(attnum, ord) JOIN pg_attribute a ON a.attrelid = t.oid "
            "AND a.attnum = k.attnum ORDER BY k.ord) "
            "FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = current_schema()"):
        table = schema[name]
        if primary:
            for column in columns:
                table.columns[column] = replace(table.columns[column], primary_key=True)
        elif not partial:
            (table.unique if unique else table.indexes).add(tuple(columns))
    for name, column, ref_table, ref_column in query(
            "SELECT t.relname, a.attname, rt.relname, ra.attname FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace "
            "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class rt ON rt.oid = c.confrelid "
            "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(col, ref) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col "
            "JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.ref "
            "WHERE c.contype = 'f' AND n.nspname = current_schema()"):
        schema[name].foreign_keys.add((column, ref_table, ref_column))
    return schema


def read_schema(db: peewee.Database, backend: str) -> dict[str, Table]:
    def query(sql: str) -> Sequence[Sequence[Any]]:
        return db.execute_sql(sql).fetchall()

    return read_sqlite(query) if backend == "sqlite" else read_postgresql(query)


def differences(actual: dict[str, Table], backend: str) -> list[str]:
    """Every way ``actual`` departs from the seed; extra tables and columns are allowed."""
    problems: list[str] = []
    for name, want in expected_schema().items():
        have = actual.get(name)
        if have is None:
            problems.append(f"table {name} is missing")
            continue
        for column, spec in want.columns.items():
            got = have.columns.get(column)
            where = f"{name}.{column}"
            if got is None:
                problems.append(f"{where} is missing")
                continue
            want_type = spec.type
            if backend == "postgresql" and (name, column) in POSTGRESQL_BIGINT:
                want_type = "BIGINT"
            if got.type != want_type:
                problems.append(f"{where}: type {got.type}, expected {want_type}")
            if got.primary_key != spec.primary_key:
                problems.append(f"{where}: primary key {got.primary_key}, seed "
                                f"{spec.primary_key}")
            # SQLite reports notnull=0 for a non-INTEGER PRIMARY KEY: the PK is checked above.
            if not (spec.primary_key and backend == "sqlite") and got.not_null != spec.not_null:
                problems.append(f"{where}: {'NOT NULL' if got.not_null else 'NULL'}, seed "
                                f"says {'NOT NULL' if spec.not_null else 'NULL'}")
            if got.default != spec.default:
                problems.append(f"{where}: default {got.default!r}, seed {spec.default!r}")
        seed_columns = set(want.columns)
        for unique in sorted(want.unique - have.unique):
            problems.append(f"{name}: UNIQUE{unique} is missing")
        extra_unique = {u for u in have.unique - want.unique if set(u) <= seed_columns}
        for unique in sorted(extra_unique):
            problems.append(f"{name}: UNIQUE{unique} on seed columns is not in the seed")
        for index in sorted(want.indexes - have.indexes - have.unique):
            problems.append(f"{name}: index {index} is missing")
        for fk in sorted(want.foreign_keys - have.foreign_keys):
            problems.append(f"{name}: foreign key {fk[0]} -> {fk[1]}({fk[2]}) is missing")
        seed_fks = {fk for fk in have.foreign_keys if fk[0] in seed_columns}
        for fk in sorted(seed_fks - want.foreign_keys):
            problems.append(f"{name}: foreign key {fk[0]} -> {fk[1]}({fk[2]}) not in the seed")
    return problems


# -- tests --------------------------------------------------------------------------------


def test_expected_spec_parses_the_seed() -> None:
    spec = expected_schema()
    assert len(spec) == 12
    assert sum(len(t.columns) for t in spec.values()) == 113
    assert spec["jobs"].columns["max_attempts"] == Column("INTEGER", True, "3", False)
    assert spec["jobs"].columns["site_id"].not_null is False
    assert ("primary_environment_id", "environments", "id") in spec["sites"].foreign_keys


def test_fresh_installation_has_the_seed_schema(core: Pressluft) -> None:
    actual = read_schema(core.db, core.backend)
    assert differences(actual, core.backend) == []
    # The reader really read something (a broken reader would find nothing to complain of
    # only if it also found every table: guard both ways).
    assert actual["jobs"].indexes >= {("status", "run_after"), ("site_id", "status")}
    assert ("site_id", "slug") in actual["environments"].unique


def test_differences_notices_a_departure(core: Pressluft) -> None:
    """The comparison itself can fail: damage a copy of the real schema and look."""
    actual = read_schema(core.db, core.backend)
    actual["sites"].unique.discard(("slug",))
    actual["jobs"].columns["max_attempts"] = Column("INTEGER", True, None, False)
    actual["nodes"].columns.pop("public_ip")
    actual["environments"].foreign_keys.discard(("node_id", "nodes", "id"))
    del actual["drift_checks"]
    found = differences(actual, core.backend)
    assert found == [
        "sites: UNIQUE('slug',) is missing",
        "environments: foreign key node_id -> nodes(id) is missing",
        "nodes.public_ip is missing",
        "jobs.max_attempts: default None, seed '3'",
        "table drift_checks is missing",
    ]


def test_models_describe_the_tables(core: Pressluft) -> None:
    """Every peewee model matches its table: same columns, nullability, uniqueness."""
    actual = read_schema(core.db, core.backend)
    seen = set()
    for model in models.BaseModel.__subclasses__():
        table_name = model._meta.table_name
        table = actual[table_name]
        seen.add(table_name)
        assert set(model._meta.columns) == set(table.columns), table_name
        for column_name, fld in model._meta.columns.items():
            column = table.columns[column_name]
            # A column the database fills itself (a sequence) may be optional in the model.
            if not fld.primary_key and column.default is None:
                assert fld.null == (not column.not_null), f"{table_name}.{column_name}"
            assert fld.unique == ((column_name,) in table.unique), f"{table_name}.{column_name}"
    assert set(SEED_TABLES) <= seen


def test_sqlite_connection_settings(home: Path) -> None:
    app = Pressluft.open(home, database_url="")
    try:
        assert app.backend == "sqlite"
        assert app.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert app.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert app.db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 1000
    finally:
        app.close()


def test_foreign_keys_are_enforced(core: Pressluft) -> None:
    p = core.db.param
    with pytest.raises(peewee.IntegrityError):
        core.db.execute_sql(
            "INSERT INTO auth_sessions (id, user_id, session_token, expires_at, created_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})",
            ("s1", "no-such-user", "t", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        )


def test_backup_sizes_beyond_2_gib_fit(core: Pressluft, token: str, local_node: Any) -> None:
    """``backups.size_bytes`` holds a 5 TiB backup on both backends."""
    job = core.sites.create(token, "Big", "big")
    size = 5 * 2**40
    p = core.db.param
    core.db.execute_sql(
        "INSERT INTO backups (id, environment_id, backup_scope, status, storage_type, "
        "storage_path, retention_until, size_bytes, created_at) VALUES "
        f"({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
        ("b1", job.environment_id, "full", "completed", "s3", "x/b1.tar.zst",
         "2026-04-01T00:00:00Z", size, "2026-03-01T00:00:00Z"),
    )
    assert models.Backup.get_by_id("b1").size_bytes == size


def _cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PRESSLUFT_DATABASE_URL", "PRESSLUFT_SESSION")}
    env["PRESSLUFT_HOME"] = str(home)
    return env


def test_cli_init_creates_the_seed_schema_in_sqlite(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    result = subprocess.run(
        [sys.executable, "-m", "pressluft_tui.entry", "--home", str(home), "init", "--json"],
        capture_output=True, text=True, env=_cli_env(tmp_path / "unused"), timeout=120,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["backend"] == "sqlite"
    database = Path(info["database"])
    assert database == (home / "pressluft.db").resolve()
    connection = sqlite3.connect(database)
    try:
        actual = read_sqlite(lambda sql: connection.execute(sql).fetchall())
        versions = [row[0] for row in connection.execute(
            "SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        connection.close()
    assert differences(actual, "sqlite") == []
    assert set(SEED_TABLES) <= set(actual)
    assert versions == list(range(1, migrations.head_version() + 1))
