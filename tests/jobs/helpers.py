"""Shared by the job runner tests: sites and nodes to hang jobs on, a worker to run them."""

from __future__ import annotations

import asyncio
from typing import Any

from pressluft_core.app import Pressluft
from pressluft_core.db import write_transaction
from pressluft_core.jobs.worker import Worker, WorkerSettings
from pressluft_core.models import Environment, Job
from pressluft_core.records import JobRecord
from pressluft_core.services.jobs import enqueue

FAST = WorkerSettings(poll_interval=0.05, lease_seconds=60, heartbeat_seconds=0.05,
                      cancel_grace=2.0, shutdown_grace=0.2, run_scheduler=False)


def make_site(core: Pressluft, token: str, slug: str, node: str = "local") -> tuple[str, str]:
    """Returns (site_id, production environment id). The site_create job is dropped (its
    handler belongs to the WordPress layer) and the environment marked active."""
    job = core.sites.create(token, slug.title(), slug, node=node)
    Job.delete().where(Job.id == job.id).execute()
    Environment.update(status="active").where(Environment.id == job.environment_id).execute()
    return job.site_id, job.environment_id


def noop(core: Pressluft, *, site_id: str | None = None, node_id: str | None = None,
         environment_id: str | None = None, job_type: str = "noop",
         **payload: Any) -> JobRecord:
    with write_transaction(core.db):
        return enqueue(core.rt, job_type, payload=payload, site_id=site_id,
                       node_id=node_id, environment_id=environment_id)


def run_worker(core: Pressluft, settings: WorkerSettings = FAST, **kwargs: Any) -> Worker:
    worker = Worker(core.rt, settings)
    asyncio.run(worker.run(until_empty=True, **kwargs))
    return worker
