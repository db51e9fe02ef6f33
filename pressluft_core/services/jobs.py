"""The job queue as services see it: enqueue inside a mutation, list and inspect.

Running jobs is the worker's business (a later layer); this module owns the rules every
enqueued row must follow, so a bad job can never reach the queue.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from pressluft_core.clock import new_id
from pressluft_core.db import dialect_of
from pressluft_core.errors import ConflictError, NotFoundError, StateError, ValidationError
from pressluft_core.jobs.events import BUS, JobEnqueued, JobStateChanged
from pressluft_core.models import Environment, Job, Site
from pressluft_core.records import Actor, JobRecord, from_row
from pressluft_core.services.base import Runtime, Service, TokenCheck, mutation

SITE_JOB_TYPES = (
    "site_create", "site_import", "env_create", "env_deploy", "env_update", "env_restore",
    "env_promote", "backup_create", "domain_add", "domain_remove", "drift_check",
    "health_check", "deploy_plan", "release_rollback", "env_delete", "backup_verify",
    "env_preview_url", "env_move", "env_move_cleanup",
)
NODE_JOB_TYPES = ("node_provision", "node_check", "noop", "cert_check", "preview_cert")
GLOBAL_JOB_TYPES = ("backup_cleanup", "env_expiry", "backup_schedule", "cert_expiry")
JOB_TYPES = SITE_JOB_TYPES + NODE_JOB_TYPES + GLOBAL_JOB_TYPES
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
    """Insert a queued job; call inside the mutation's write transaction (on SQLite a
    deferred ``atomic()`` would read ``MAX(queue_seq)`` before taking the write lock and
    fail with "database is locked" against a busy worker)."""
    if job_type not in JOB_TYPES:
        raise ValidationError("job_type", f"{job_type!r} is not one of: {', '.join(JOB_TYPES)}")
    if job_type in SITE_JOB_TYPES and site_id is None:
        raise ValidationError("site_id", f"a {job_type} job needs a site")
    if site_id is None and node_id is None and job_type not in GLOBAL_JOB_TYPES:
        raise ValidationError("node_id", f"a node-scoped {job_type} job needs a node")
    _refuse_secrets(payload)
    now = rt.now()
    record = JobRecord(
        id=new_id(), job_type=job_type, status="queued", site_id=site_id,
        environment_id=environment_id, node_id=node_id,
        payload_json=json.dumps(payload, sort_keys=True), attempt_count=0,
        max_attempts=max_attempts, run_after=now, locked_at=None, locked_by=None,
        started_at=None, finished_at=None, error_code=None, error_message=None,
        created_at=now, updated_at=now, progress=None)
    # Plain SQL, and the record built from what was written rather than read back: the
    # console waits on this for every job it starts.
    values = {f: getattr(record, f) for f in _INSERT_FIELDS}
    if dialect_of(rt.db) == "sqlite":  # PostgreSQL fills queue_seq from its sequence
        rt.db.execute_sql(_SQLITE_INSERT, values)
    else:
        rt.db.execute_sql(_PG_INSERT, values)
    rt.db.after_commit(lambda: BUS.publish(JobEnqueued(record.id)))
    return record


_INSERT_FIELDS = ("id", "job_type", "status", "site_id", "environment_id", "node_id",
                  "payload_json", "attempt_count", "max_attempts", "run_after", "created_at",
                  "updated_at")
_SQLITE_INSERT = (
    f"INSERT INTO jobs ({', '.join(_INSERT_FIELDS)}, queue_seq) "
    f"SELECT {', '.join(':' + f for f in _INSERT_FIELDS)}, COALESCE(MAX(queue_seq), 0) + 1 "
    "FROM jobs")
_PG_INSERT = (f"INSERT INTO jobs ({', '.join(_INSERT_FIELDS)}) "
              f"VALUES ({', '.join(f'%({f})s' for f in _INSERT_FIELDS)})")


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
        _refuse_nested(value, f"{path}.{key}")


def _refuse_nested(value: Any, path: str) -> None:
    """Look inside dicts and lists too: ``{"databases": [{"password": …}]}`` is refused."""
    if isinstance(value, dict):
        _refuse_secrets(value, path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_nested(item, f"{path}[{index}]")


_RECORD_FIELDS = [getattr(Job, f.name) for f in dataclasses.fields(JobRecord)]


JobTypeRules = Callable[[str], tuple[str | None, bool]]
"""A job type's ``(running_status, moves_site)``: what cancelling it must mark failed. Job
types are declared by the handlers, a layer above the services, so the app hands this
lookup in (:func:`pressluft_core.app.job_type_rules`)."""


class JobsService(Service):
    def __init__(self, rt: Runtime, auth: TokenCheck, rules: JobTypeRules) -> None:
        super().__init__(rt, auth)
        self.rules = rules

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
        query = Job.select(*_RECORD_FIELDS).order_by(Job.queue_seq.desc())
        if status:
            query = query.where(Job.status == status)
        if site_id:
            query = query.where(Job.site_id == site_id)
        if job_type:
            query = query.where(Job.job_type == job_type)
        return [JobRecord(**row) for row in query.limit(limit).dicts()]

    @mutation("job.cancel", "job", target="job_id")
    def cancel(self, actor: Actor, job_id: str) -> JobRecord:
        if actor.role != "admin":
            raise StateError("only an admin can cancel jobs")
        return cancel_job(self.rt, find_job(job_id), self.rules)

    @mutation("job.enqueue", "job", target="job_type")
    def enqueue_diagnostic(self, actor: Actor, job_type: str, *, payload: dict[str, Any],
                           site_id: str | None = None, node_id: str | None = None,
                           max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> JobRecord:
        """Queue a ``noop`` diagnostic job (tests, benchmarks, checking the runner)."""
        if job_type != "noop":
            raise ValidationError("job_type", "only noop jobs can be queued directly")
        return enqueue(self.rt, job_type, payload=payload, site_id=site_id, node_id=node_id,
                       max_attempts=max_attempts)

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


def cancel_job(rt: Runtime, job: Job, rules: JobTypeRules) -> JobRecord:
    """``queued|running → cancelled`` in one transaction. A running job's worker hears of
    it (event in-process, heartbeat elsewhere) and stops the remote process; nothing is
    rolled back, so a resource the job was changing is marked ``failed``."""
    if job.status not in ("queued", "running"):
        raise StateError(f"job {job.id[:8]} is {job.status}; only queued or running jobs "
                         "can be cancelled")
    now = rt.now()
    updated = Job.update(status="cancelled", finished_at=now, updated_at=now,
                         error_code="CANCELLED", error_message="cancelled by an admin").where(
        (Job.id == job.id) & (Job.status == job.status)).execute()
    if not updated:
        raise ConflictError(f"job {job.id[:8]} changed while cancelling; look again")
    running_status, moves_site = rules(job.job_type)
    if running_status:
        _fail_if_mid_mutation(job, running_status, moves_site, now)
    rt.db.after_commit(lambda: BUS.publish(JobStateChanged(job.id, "cancelled")))
    return from_row(JobRecord, Job.get_by_id(job.id))


def _fail_if_mid_mutation(job: Job, running_status: str, moves_site: bool, now: str) -> None:
    if job.environment_id:
        Environment.update(status="failed", updated_at=now,
                           state_version=Environment.state_version + 1).where(
            (Environment.id == job.environment_id) & (Environment.status == running_status)
        ).execute()
    if moves_site and job.site_id:
        Site.update(status="failed", updated_at=now, state_version=Site.state_version + 1).where(
            (Site.id == job.site_id) & (Site.status == running_status)).execute()
