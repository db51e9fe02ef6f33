"""The job queue as services see it: enqueue inside a mutation, list and inspect.

Running jobs is the worker's business (a later layer); this module owns the rules every
enqueued row must follow, so a bad job can never reach the queue.
"""

from __future__ import annotations

import json
from typing import Any

from pressluft_core.clock import new_id
from pressluft_core.errors import NotFoundError, ValidationError
from pressluft_core.models import Job
from pressluft_core.records import JobRecord, from_row
from pressluft_core.services.base import Runtime, Service

SITE_JOB_TYPES = (
    "site_create", "site_import", "env_create", "env_deploy", "env_update", "env_restore",
    "env_promote", "backup_create", "domain_add", "domain_remove", "drift_check",
    "health_check", "release_rollback",
)
NODE_JOB_TYPES = ("node_provision", "node_check", "backup_cleanup", "noop")
JOB_TYPES = SITE_JOB_TYPES + NODE_JOB_TYPES
DEFAULT_MAX_ATTEMPTS = 3
FORBIDDEN_PAYLOAD_KEYS = ("password", "secret", "private_key", "token", "credentials")


def enqueue(
    rt: Runtime,
    job_type: str,
    *,
    payload: dict[str, Any],
    site_id: str | None = None,
    environment_id: str | None = None,
    node_id: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> JobRecord:
    """Insert a queued job; call inside the mutation's transaction."""
    if job_type not in JOB_TYPES:
        raise ValidationError("job_type", f"{job_type!r} is not one of: {', '.join(JOB_TYPES)}")
    if job_type in SITE_JOB_TYPES and site_id is None:
        raise ValidationError("site_id", f"a {job_type} job needs a site")
    if site_id is None and node_id is None:
        raise ValidationError("node_id", f"a node-scoped {job_type} job needs a node")
    _refuse_secrets(payload)
    now = rt.now()
    job_id = new_id()
    Job.insert(
        id=job_id, job_type=job_type, status="queued", site_id=site_id,
        environment_id=environment_id, node_id=node_id,
        payload_json=json.dumps(payload, sort_keys=True), attempt_count=0,
        max_attempts=max_attempts, run_after=now, created_at=now, updated_at=now,
    ).execute()
    return from_row(JobRecord, Job.get_by_id(job_id))


def _refuse_secrets(payload: dict[str, Any], path: str = "payload") -> None:
    """Secrets travel by reference (a secrets-store name), never inside a payload."""
    for key, value in payload.items():
        lowered = str(key).lower()
        if any(word in lowered for word in FORBIDDEN_PAYLOAD_KEYS) and not lowered.endswith(
            "_ref"
        ):
            raise ValidationError(
                f"{path}.{key}",
                "looks like a secret; store it in the secrets store and pass its name as "
                f"{key}_ref",
            )
        if isinstance(value, dict):
            _refuse_secrets(value, f"{path}.{key}")


class JobsService(Service):
    def list(
        self,
        token: str,
        *,
        status: str | None = None,
        site_id: str | None = None,
        job_type: str | None = None,
        limit: int = 200,
    ) -> list[JobRecord]:
        self.auth.require(token)
        query = Job.select().order_by(Job.created_at.desc(), Job.id)
        if status:
            query = query.where(Job.status == status)
        if site_id:
            query = query.where(Job.site_id == site_id)
        if job_type:
            query = query.where(Job.job_type == job_type)
        return [from_row(JobRecord, row) for row in query.limit(limit)]

    def get(self, token: str, job_id: str) -> JobRecord:
        """By full id or by a unique prefix of at least 4 characters (as the console shows)."""
        self.auth.require(token)
        return from_row(JobRecord, find_job(job_id))


def find_job(job_id: str) -> Job:
    row = Job.get_or_none(Job.id == job_id)
    if row is not None:
        return row
    if isinstance(job_id, str) and 4 <= len(job_id) < 36 and all(
        c in "0123456789abcdef-" for c in job_id
    ):
        matches = list(Job.select().where(Job.id.startswith(job_id)).limit(2))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ValidationError("job_id", f"{job_id!r} matches several jobs; give more of it")
    raise NotFoundError(f"no job {job_id!r}")
