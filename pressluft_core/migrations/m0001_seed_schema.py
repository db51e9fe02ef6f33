"""Migration 1: the seed schema of ``shared/seed/data-model.md``, exactly as written.

Frozen: never edit this file once released; later changes are new migrations. The DDL is
plain SQL that SQLite and PostgreSQL both accept. SQLite allows forward references in
foreign keys, PostgreSQL does not, so on PostgreSQL the constraints are added afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "seed schema"

# (table, [(column, type, constraint or "", foreign table or None)])
TABLES: list[tuple[str, list[tuple[str, str, str, str | None]]]] = [
    ("nodes", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("name", "TEXT", "NOT NULL", None),
        ("hostname", "TEXT", "NOT NULL", None),
        ("public_ip", "TEXT", "NULL", None),
        ("ssh_port", "INTEGER", "NOT NULL", None),
        ("ssh_user", "TEXT", "NOT NULL", None),
        ("status", "TEXT", "NOT NULL", None),
        ("is_local", "INTEGER", "NOT NULL", None),
        ("last_seen_at", "TEXT", "NULL", None),
        ("created_at", "TEXT", "NOT NULL", None),
        ("updated_at", "TEXT", "NOT NULL", None),
        ("state_version", "INTEGER", "NOT NULL DEFAULT 1", None),
    ]),
    ("users", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("email", "TEXT", "NOT NULL UNIQUE", None),
        ("display_name", "TEXT", "NOT NULL", None),
        ("role", "TEXT", "NOT NULL", None),
        ("password_hash", "TEXT", "NOT NULL", None),
        ("is_active", "INTEGER", "NOT NULL", None),
        ("created_at", "TEXT", "NOT NULL", None),
        ("updated_at", "TEXT", "NOT NULL", None),
    ]),
    ("sites", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("name", "TEXT", "NOT NULL", None),
        ("slug", "TEXT", "NOT NULL UNIQUE", None),
        ("status", "TEXT", "NOT NULL", None),
        ("primary_environment_id", "TEXT", "NULL", "environments"),
        ("created_at", "TEXT", "NOT NULL", None),
        ("updated_at", "TEXT", "NOT NULL", None),
        ("state_version", "INTEGER", "NOT NULL DEFAULT 1", None),
    ]),
    ("environments", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("site_id", "TEXT", "NOT NULL", "sites"),
        ("name", "TEXT", "NOT NULL", None),
        ("slug", "TEXT", "NOT NULL", None),
        ("environment_type", "TEXT", "NOT NULL", None),
        ("status", "TEXT", "NOT NULL", None),
        ("node_id", "TEXT", "NOT NULL", "nodes"),
        ("source_environment_id", "TEXT", "NULL", "environments"),
        ("promotion_preset", "TEXT", "NOT NULL", None),
        ("preview_url", "TEXT", "NOT NULL", None),
        ("primary_domain_id", "TEXT", "NULL", "domains"),
        ("current_release_id", "TEXT", "NULL", "releases"),
        ("drift_status", "TEXT", "NOT NULL", None),
        ("drift_checked_at", "TEXT", "NULL", None),
        ("last_drift_check_id", "TEXT", "NULL", "drift_checks"),
        ("created_at", "TEXT", "NOT NULL", None),
        ("updated_at", "TEXT", "NOT NULL", None),
        ("state_version", "INTEGER", "NOT NULL DEFAULT 1", None),
    ]),
    ("releases", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("environment_id", "TEXT", "NOT NULL", "environments"),
        ("source_type", "TEXT", "NOT NULL", None),
        ("source_ref", "TEXT", "NOT NULL", None),
        ("path", "TEXT", "NOT NULL", None),
        ("health_status", "TEXT", "NOT NULL", None),
        ("notes", "TEXT", "NULL", None),
        ("created_at", "TEXT", "NOT NULL", None),
    ]),
    ("backups", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("environment_id", "TEXT", "NOT NULL", "environments"),
        ("backup_scope", "TEXT", "NOT NULL", None),
        ("status", "TEXT", "NOT NULL", None),
        ("storage_type", "TEXT", "NOT NULL", None),
        ("storage_path", "TEXT", "NOT NULL", None),
        ("retention_until", "TEXT", "NOT NULL", None),
        ("checksum", "TEXT", "NULL", None),
        ("size_bytes", "INTEGER", "NULL", None),
        ("created_at", "TEXT", "NOT NULL", None),
        ("completed_at", "TEXT", "NULL", None),
    ]),
    ("domains", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("environment_id", "TEXT", "NOT NULL", "environments"),
        ("hostname", "TEXT", "NOT NULL UNIQUE", None),
        ("tls_status", "TEXT", "NOT NULL", None),
        ("tls_issuer", "TEXT", "NOT NULL", None),
        ("created_at", "TEXT", "NOT NULL", None),
        ("updated_at", "TEXT", "NOT NULL", None),
    ]),
    ("jobs", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("job_type", "TEXT", "NOT NULL", None),
        ("status", "TEXT", "NOT NULL", None),
        # The one deliberate deviation from the seed: NULL for node-scoped jobs.
        ("site_id", "TEXT", "NULL", "sites"),
        ("environment_id", "TEXT", "NULL", "environments"),
        ("node_id", "TEXT", "NULL", "nodes"),
        ("payload_json", "TEXT", "NOT NULL", None),
        ("attempt_count", "INTEGER", "NOT NULL", None),
        ("max_attempts", "INTEGER", "NOT NULL DEFAULT 3", None),
        ("run_after", "TEXT", "NULL", None),
        ("locked_at", "TEXT", "NULL", None),
        ("locked_by", "TEXT", "NULL", None),
        ("started_at", "TEXT", "NULL", None),
        ("finished_at", "TEXT", "NULL", None),
        ("error_code", "TEXT", "NULL", None),
        ("error_message", "TEXT", "NULL", None),
        ("created_at", "TEXT", "NOT NULL", None),
        ("updated_at", "TEXT", "NOT NULL", None),
    ]),
    ("auth_sessions", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("user_id", "TEXT", "NOT NULL", "users"),
        ("session_token", "TEXT", "NOT NULL UNIQUE", None),
        ("expires_at", "TEXT", "NOT NULL", None),
        ("created_at", "TEXT", "NOT NULL", None),
        ("revoked_at", "TEXT", "NULL", None),
    ]),
    ("drift_checks", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("environment_id", "TEXT", "NOT NULL", "environments"),
        ("promotion_preset", "TEXT", "NOT NULL", None),
        ("status", "TEXT", "NOT NULL", None),
        ("db_checksums_json", "TEXT", "NULL", None),
        ("file_checksums_json", "TEXT", "NULL", None),
        ("checked_at", "TEXT", "NOT NULL", None),
    ]),
    ("audit_logs", [
        ("id", "TEXT", "PRIMARY KEY", None),
        ("user_id", "TEXT", "NOT NULL", "users"),
        ("action", "TEXT", "NOT NULL", None),
        ("resource_type", "TEXT", "NOT NULL", None),
        ("resource_id", "TEXT", "NOT NULL", None),
        ("result", "TEXT", "NOT NULL", None),
        ("created_at", "TEXT", "NOT NULL", None),
    ]),
    ("settings", [
        ("key", "TEXT", "PRIMARY KEY", None),
        ("value", "TEXT", "NOT NULL", None),
        ("updated_at", "TEXT", "NOT NULL", None),
    ]),
]

INDEXES = [
    "CREATE UNIQUE INDEX environments_site_id_slug ON environments (site_id, slug)",
    "CREATE INDEX jobs_status_run_after ON jobs (status, run_after)",
    "CREATE INDEX jobs_site_id_status ON jobs (site_id, status)",
]


def _column_sql(column: str, sql_type: str, constraint: str) -> str:
    # "NULL" in the spec documents nullability; SQL needs no keyword for it.
    constraint = "" if constraint == "NULL" else f" {constraint}"
    return f"{column} {sql_type}{constraint}"


# SQLite's INTEGER is 64-bit, PostgreSQL's is 32-bit: a byte count must not stop at 2 GiB.
POSTGRESQL_BIGINT = {("backups", "size_bytes")}


def apply(execute: Callable[[str], None], dialect: str) -> None:
    inline_fks = dialect == "sqlite"
    for table, columns in TABLES:
        parts = []
        for column, sql_type, constraint, ref in columns:
            if dialect == "postgresql" and (table, column) in POSTGRESQL_BIGINT:
                sql_type = "BIGINT"
            sql = _column_sql(column, sql_type, constraint)
            if ref and inline_fks:
                sql += f" REFERENCES {ref} (id)"
            parts.append(sql)
        execute(f"CREATE TABLE {table} ({', '.join(parts)})")
    if not inline_fks:
        for table, columns in TABLES:
            for column, _type, _constraint, ref in columns:
                if ref:
                    execute(
                        f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column} "
                        f"FOREIGN KEY ({column}) REFERENCES {ref} (id)"
                    )
    for statement in INDEXES:
        execute(statement)
