"""Job types: each is a list of named steps plus the rules the runner applies to it.

A handler module declares its job type once with :func:`job_type`; the worker looks types
up here by ``jobs.job_type``. Steps are small async functions; their titles make the
progress line (``step 3/7: importing database``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pressluft_core.jobs.retry import DEFAULT_RETRY, RetryStrategy

if TYPE_CHECKING:
    from pressluft_core.jobs.context import JobContext

StepFunction = Callable[["JobContext"], Awaitable[None]]
DEFAULT_TIMEOUT_SECONDS = 30 * 60


@dataclass(frozen=True)
class Step:
    title: str
    run: StepFunction


@dataclass(frozen=True)
class JobType:
    name: str
    steps: tuple[Step, ...]
    # Status the job's environment (and, for site-level jobs, its site) holds while the job
    # runs; None for jobs that change nothing a user could race with (checks, backups).
    running_status: str | None = None
    moves_site: bool = False
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry: RetryStrategy = field(default=DEFAULT_RETRY)


REGISTRY: dict[str, JobType] = {}


def job_type(
    name: str,
    *steps: tuple[str, StepFunction],
    running_status: str | None = None,
    moves_site: bool = False,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    retry: RetryStrategy = DEFAULT_RETRY,
) -> JobType:
    """Register a job type from ``(title, step)`` pairs and return it."""
    if name in REGISTRY:
        raise ValueError(f"job type {name!r} is registered twice")
    registered = JobType(
        name=name,
        steps=tuple(Step(title, fn) for title, fn in steps),
        running_status=running_status,
        moves_site=moves_site,
        timeout_seconds=timeout_seconds,
        retry=retry,
    )
    REGISTRY[name] = registered
    return registered


_loaded = False


def load_handlers() -> dict[str, JobType]:
    """Import every handler module so their registrations run; idempotent and cheap after
    the first call. Everything that reads the registry goes through here, so the answer
    never depends on which modules happened to be imported already."""
    global _loaded
    if not _loaded:
        from pressluft_core.jobs import handlers

        handlers.load_all()
        _loaded = True
    return REGISTRY
