"""What services hand out: frozen snapshots of rows, never live peewee models.

The console and the CLI render these; they cannot write through them, so every change
goes through a service (validation, transaction, audit).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

import peewee

T = TypeVar("T")


def from_row(cls: type[T], row: peewee.Model) -> T:
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: getattr(row, name) for name in names})


def as_dict(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    id: str
    name: str
    hostname: str
    public_ip: str | None
    ssh_port: int
    ssh_user: str
    status: str
    is_local: bool
    last_seen_at: str | None
    created_at: str
    updated_at: str
    state_version: int
    sites_root: str = "/var/www/sites"
    preview_cert_name: str | None = None
    preview_cert_expires_at: str | None = None
    preview_cert_checked_at: str | None = None
    os_release: str | None = None
    php_version: str | None = None
    mariadb_version: str | None = None
    nginx_version: str | None = None


@dataclasses.dataclass(frozen=True)
class NodeAddress:
    """Where a claimed job's node is, read in the claim's statement (PostgreSQL), so the
    job's first command needs no read of its own."""

    hostname: str
    ssh_port: int
    ssh_user: str
    ssh_host_key: str | None
    name: str


@dataclasses.dataclass(frozen=True)
class SiteRecord:
    id: str
    name: str
    slug: str
    status: str
    primary_environment_id: str | None
    created_at: str
    updated_at: str
    state_version: int


@dataclasses.dataclass(frozen=True)
class EnvironmentRecord:
    id: str
    site_id: str
    name: str
    slug: str
    environment_type: str
    status: str
    node_id: str
    source_environment_id: str | None
    promotion_preset: str
    preview_url: str
    primary_domain_id: str | None
    current_release_id: str | None
    drift_status: str
    drift_checked_at: str | None
    last_drift_check_id: str | None
    created_at: str
    updated_at: str
    state_version: int
    expires_at: str | None = None
    backup_schedule: str | None = None
    health_expected_text: str | None = None
    previous_node_id: str | None = None


@dataclasses.dataclass(frozen=True)
class JobRecord:
    id: str
    job_type: str
    status: str
    site_id: str | None
    environment_id: str | None
    node_id: str | None
    payload_json: str
    attempt_count: int
    max_attempts: int
    run_after: str | None
    locked_at: str | None
    locked_by: str | None
    started_at: str | None
    finished_at: str | None
    error_code: str | None
    error_message: str | None
    created_at: str
    updated_at: str
    progress: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)


@dataclasses.dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    display_name: str
    role: str
    is_active: bool
    created_at: str
    updated_at: str


@dataclasses.dataclass(frozen=True)
class AuditRecord:
    id: str
    user_id: str
    action: str
    resource_type: str
    resource_id: str
    result: str
    created_at: str


@dataclasses.dataclass(frozen=True)
class Actor:
    """The authenticated user behind a service call."""

    user_id: str
    session_id: str
    email: str
    role: str


@dataclasses.dataclass(frozen=True)
class ReleaseRecord:
    id: str
    environment_id: str
    source_type: str
    source_ref: str
    path: str
    health_status: str
    notes: str | None
    created_at: str
    health_checks: str | None = None  # JSON: each part's verdict

    @property
    def checks(self) -> dict[str, str]:
        return json.loads(self.health_checks) if self.health_checks else {}


@dataclasses.dataclass(frozen=True)
class BackupRecord:
    id: str
    environment_id: str
    backup_scope: str
    status: str
    storage_type: str
    storage_path: str
    retention_until: str
    checksum: str | None
    size_bytes: int | None
    created_at: str
    completed_at: str | None
    verified_at: str | None = None
    verify_result: str | None = None


@dataclasses.dataclass(frozen=True)
class DomainRecord:
    id: str
    environment_id: str
    hostname: str
    tls_status: str
    tls_issuer: str
    created_at: str
    updated_at: str
    expires_at: str | None = None
    tls_checked_at: str | None = None
    tls_error: str | None = None
    state_version: int = 1


@dataclasses.dataclass(frozen=True)
class DriftCheckRecord:
    id: str
    environment_id: str
    promotion_preset: str
    status: str
    db_checksums_json: str | None
    file_checksums_json: str | None
    checked_at: str
