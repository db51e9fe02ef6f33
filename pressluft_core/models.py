"""peewee models for the seed schema (``shared/seed/data-model.md``) plus our additions.

The tables themselves are created by migrations, never by ``create_table``: these classes
only describe them. Enum columns refuse values outside the seed's list on write, with an
error naming the column and the allowed values.
"""

from __future__ import annotations

from typing import Any

import peewee

from pressluft_core import enums
from pressluft_core.db import database
from pressluft_core.errors import ValidationError


class EnumField(peewee.TextField):
    """TEXT column restricted to one of the seed enum's values."""

    def __init__(self, allowed: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed = allowed

    def db_value(self, value: Any) -> Any:
        if value is None and self.null:
            return None
        if value not in self.allowed:
            allowed = ", ".join(self.allowed)
            raise ValidationError(
                f"{self.model.__name__.lower()}.{self.name}",
                f"{value!r} is not one of: {allowed}",
            )
        return super().db_value(value)


class BoolIntField(peewee.IntegerField):
    """Booleans are INTEGER 0/1 in the seed schema."""

    def db_value(self, value: Any) -> Any:
        return None if value is None else int(bool(value))

    def python_value(self, value: Any) -> Any:
        return None if value is None else bool(value)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


def _id() -> peewee.TextField:
    return peewee.TextField(primary_key=True)


class Node(BaseModel):
    id = _id()
    name = peewee.TextField()
    hostname = peewee.TextField()
    public_ip = peewee.TextField(null=True)
    ssh_port = peewee.IntegerField()
    ssh_user = peewee.TextField()
    status = EnumField(enums.NODE_STATUS)
    is_local = BoolIntField()
    last_seen_at = peewee.TextField(null=True)
    created_at = peewee.TextField()
    updated_at = peewee.TextField()
    state_version = peewee.IntegerField(default=1)
    ssh_host_key = peewee.TextField(null=True)  # addition (migration 3)
    sites_root = peewee.TextField(default="/var/www/sites")  # addition (migration 6)
    preview_cert_name = peewee.TextField(null=True)  # addition (migration 10)
    preview_cert_expires_at = peewee.TextField(null=True)  # addition (migration 10)
    preview_cert_checked_at = peewee.TextField(null=True)  # addition (migration 10)
    os_release = peewee.TextField(null=True)  # addition (migration 12)
    php_version = peewee.TextField(null=True)  # addition (migration 12)
    mariadb_version = peewee.TextField(null=True)  # addition (migration 12)
    nginx_version = peewee.TextField(null=True)  # addition (migration 12)

    class Meta:
        table_name = "nodes"


class User(BaseModel):
    id = _id()
    email = peewee.TextField(unique=True)
    display_name = peewee.TextField()
    role = EnumField(enums.USER_ROLE)
    password_hash = peewee.TextField()
    is_active = BoolIntField()
    created_at = peewee.TextField()
    updated_at = peewee.TextField()

    class Meta:
        table_name = "users"


class Site(BaseModel):
    id = _id()
    name = peewee.TextField()
    slug = peewee.TextField(unique=True)
    status = EnumField(enums.SITE_STATUS)
    primary_environment_id = peewee.TextField(null=True)
    created_at = peewee.TextField()
    updated_at = peewee.TextField()
    state_version = peewee.IntegerField(default=1)

    class Meta:
        table_name = "sites"


class Environment(BaseModel):
    id = _id()
    site_id = peewee.TextField()
    name = peewee.TextField()
    slug = peewee.TextField()
    environment_type = EnumField(enums.ENVIRONMENT_TYPE)
    status = EnumField(enums.ENVIRONMENT_STATUS)
    node_id = peewee.TextField()
    source_environment_id = peewee.TextField(null=True)
    promotion_preset = EnumField(enums.PROMOTION_PRESET)
    preview_url = peewee.TextField()
    primary_domain_id = peewee.TextField(null=True)
    current_release_id = peewee.TextField(null=True)
    drift_status = EnumField(enums.DRIFT_STATUS)
    drift_checked_at = peewee.TextField(null=True)
    last_drift_check_id = peewee.TextField(null=True)
    created_at = peewee.TextField()
    updated_at = peewee.TextField()
    state_version = peewee.IntegerField(default=1)
    expires_at = peewee.TextField(null=True)  # addition (migration 6)
    deleted_at = peewee.TextField(null=True)  # addition (migration 7)
    backup_schedule = peewee.TextField(null=True)  # addition (migration 8)
    health_expected_text = peewee.TextField(null=True)  # addition (migration 11)
    previous_node_id = peewee.TextField(null=True)  # addition (migration 12)

    class Meta:
        table_name = "environments"

    @classmethod
    def live(cls, *fields: Any) -> peewee.ModelSelect:
        """Environments that were not deleted (deleted rows stay for their history)."""
        return cls.select(*fields).where(cls.deleted_at.is_null())


class Release(BaseModel):
    id = _id()
    environment_id = peewee.TextField()
    source_type = EnumField(enums.RELEASE_SOURCE_TYPE)
    source_ref = peewee.TextField()
    path = peewee.TextField()
    health_status = EnumField(enums.RELEASE_HEALTH_STATUS)
    notes = peewee.TextField(null=True)
    created_at = peewee.TextField()
    health_checks = peewee.TextField(null=True)  # addition (migration 11): JSON verdicts

    class Meta:
        table_name = "releases"


class Backup(BaseModel):
    id = _id()
    environment_id = peewee.TextField()
    backup_scope = EnumField(enums.BACKUP_SCOPE)
    status = EnumField(enums.BACKUP_STATUS)
    storage_type = EnumField(enums.STORAGE_TYPE)
    storage_path = peewee.TextField()
    retention_until = peewee.TextField()
    checksum = peewee.TextField(null=True)
    size_bytes = peewee.IntegerField(null=True)
    created_at = peewee.TextField()
    completed_at = peewee.TextField(null=True)
    verified_at = peewee.TextField(null=True)  # addition (migration 8)
    verify_result = peewee.TextField(null=True)  # addition (migration 8)

    class Meta:
        table_name = "backups"


class Domain(BaseModel):
    id = _id()
    environment_id = peewee.TextField()
    hostname = peewee.TextField(unique=True)
    tls_status = EnumField(enums.TLS_STATUS)
    tls_issuer = peewee.TextField()
    created_at = peewee.TextField()
    updated_at = peewee.TextField()
    expires_at = peewee.TextField(null=True)  # addition (migration 9)
    tls_checked_at = peewee.TextField(null=True)  # addition (migration 9)
    tls_error = peewee.TextField(null=True)  # addition (migration 9)
    state_version = peewee.IntegerField(default=1)  # addition (migration 9)

    class Meta:
        table_name = "domains"


class Job(BaseModel):
    id = _id()
    job_type = peewee.TextField()
    status = EnumField(enums.JOB_STATUS)
    site_id = peewee.TextField(null=True)
    environment_id = peewee.TextField(null=True)
    node_id = peewee.TextField(null=True)
    payload_json = peewee.TextField()
    attempt_count = peewee.IntegerField()
    max_attempts = peewee.IntegerField(default=3)
    run_after = peewee.TextField(null=True)
    locked_at = peewee.TextField(null=True)
    locked_by = peewee.TextField(null=True)
    started_at = peewee.TextField(null=True)
    finished_at = peewee.TextField(null=True)
    error_code = peewee.TextField(null=True)
    error_message = peewee.TextField(null=True)
    created_at = peewee.TextField()
    updated_at = peewee.TextField()
    progress = peewee.TextField(null=True)  # addition (migration 3)
    queue_seq = peewee.BigIntegerField(null=True)  # addition (migration 3)

    class Meta:
        table_name = "jobs"


class AuthSession(BaseModel):
    id = _id()
    user_id = peewee.TextField()
    session_token = peewee.TextField(unique=True)
    expires_at = peewee.TextField()
    created_at = peewee.TextField()
    revoked_at = peewee.TextField(null=True)

    class Meta:
        table_name = "auth_sessions"


class DriftCheck(BaseModel):
    id = _id()
    environment_id = peewee.TextField()
    promotion_preset = EnumField(enums.PROMOTION_PRESET)
    status = EnumField(enums.DRIFT_STATUS)
    db_checksums_json = peewee.TextField(null=True)
    file_checksums_json = peewee.TextField(null=True)
    checked_at = peewee.TextField()

    class Meta:
        table_name = "drift_checks"


class AuditLog(BaseModel):
    id = _id()
    user_id = peewee.TextField()
    action = peewee.TextField()
    resource_type = peewee.TextField()
    resource_id = peewee.TextField()
    result = peewee.TextField()
    created_at = peewee.TextField()

    class Meta:
        table_name = "audit_logs"


class Setting(BaseModel):
    key = peewee.TextField(primary_key=True)
    value = peewee.TextField()
    updated_at = peewee.TextField()

    class Meta:
        table_name = "settings"


class LoginThrottle(BaseModel):
    """Addition (migration 2): failed logins per email, for the growing delay."""

    email = peewee.TextField(primary_key=True)
    failed_count = peewee.IntegerField(default=0)
    last_failed_at = peewee.TextField()

    class Meta:
        table_name = "login_throttle"


class JobSchedule(BaseModel):
    """Addition (migration 3): a periodic job enqueued for one period."""

    name = peewee.TextField()
    period_key = peewee.TextField()
    job_id = peewee.TextField()
    created_at = peewee.TextField()

    class Meta:
        table_name = "job_schedules"
        primary_key = peewee.CompositeKey("name", "period_key")


class WorkerPresence(BaseModel):
    """Addition (migration 4): a live worker (``mode``: daemon, embedded or cli)."""

    id = peewee.TextField(primary_key=True)
    mode = peewee.TextField()
    started_at = peewee.TextField()
    last_seen_at = peewee.TextField()

    class Meta:
        table_name = "workers"
