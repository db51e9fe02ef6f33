"""The worker: claims jobs, runs their steps, renews leases, takes back dead workers' jobs
and drives the scheduler. Embedded in the console (own thread and event loop) or run as
the ``pressluft worker`` daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pressluft_core.jobs import presence, queue
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.events import BUS, JobEnqueued, JobEvent, JobStateChanged
from pressluft_core.jobs.logs import JobLog, Redactor, log_path
from pressluft_core.jobs.outcome import classify
from pressluft_core.jobs.registry import REGISTRY, load_handlers
from pressluft_core.jobs.scheduler import Scheduler
from pressluft_core.models import Job, Node
from pressluft_core.records import JobRecord, NodeAddress
from pressluft_core.services.base import Runtime

if TYPE_CHECKING:
    from pressluft_core.remote.connection import ConnectionPool

log = logging.getLogger(__name__)
PROGRESS_WRITE_INTERVAL = 1.0


@dataclass
class WorkerSettings:
    poll_interval: float = 2.0
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 15.0
    max_concurrent: int = 8
    cancel_grace: float = 10.0
    shutdown_grace: float = 30.0
    run_scheduler: bool = True


@dataclass
class _Running:
    job: JobRecord
    ctx: JobContext | None
    task: asyncio.Task[None]
    progress_written_at: float = field(default_factory=time.monotonic)
    progress_pending: str | None = None


class Worker:
    def __init__(self, rt: Runtime, settings: WorkerSettings | None = None,
                 worker_id: str | None = None, mode: str = "cli") -> None:
        load_handlers()
        self.rt = rt
        self.mode = mode
        self.settings = settings or WorkerSettings()
        self.worker_id = worker_id or queue.worker_identity()
        self.scheduler = Scheduler(rt)
        self._running: dict[str, _Running] = {}
        self._pool: ConnectionPool | None = None
        self._wake: asyncio.Event | None = None

    # -- main loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, *, until_empty: bool = False,
                  only_job_id: str | None = None) -> None:
        """Work until ``stop`` is set; ``until_empty`` returns once the queue is drained,
        ``only_job_id`` runs just that job (the CLI's "run it now")."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        unsubscribe = BUS.subscribe(lambda event: self._on_event(loop, event))
        presence.announce(self.rt, self.worker_id, self.mode)
        beat = asyncio.create_task(self._heartbeat_loop(stop), name="worker-heartbeat")
        last_recovery = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() - last_recovery > self.settings.lease_seconds / 2:
                    last_recovery = time.monotonic()
                    queue.recover_expired(self.rt, self.settings.lease_seconds)
                if self.settings.run_scheduler and only_job_id is None:
                    self.scheduler.tick()
                claimed = self._claim_available(only_job_id)
                if not self._running and not claimed and self._finished(until_empty,
                                                                        only_job_id):
                    break
                self._wake.clear()
                waiters = [asyncio.create_task(self._wake.wait()),
                           asyncio.create_task(stop.wait())]
                waiters += [r.task for r in self._running.values()]
                await asyncio.wait(waiters, timeout=self.settings.poll_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters[:2]:
                    waiter.cancel()
        finally:
            unsubscribe()
            await self._shutdown()
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            if self._pool is not None:
                await self._pool.close()
            presence.retire(self.rt, self.worker_id)

    def _on_event(self, loop: asyncio.AbstractEventLoop, event: JobEvent) -> None:
        wake = self._wake
        if wake is None:
            return
        if isinstance(event, JobEnqueued):
            loop.call_soon_threadsafe(wake.set)
        elif isinstance(event, JobStateChanged) and event.status == "cancelled":
            loop.call_soon_threadsafe(self._stop_job, event.job_id, "cancelled")

    def _claim_available(self, only_job_id: str | None) -> bool:
        """One claim fills every free slot: getting fewer jobs than slots means nothing
        else can start now, so no second, empty claim is needed to find that out."""
        free = self.settings.max_concurrent - len(self._running)
        if only_job_id:
            free = min(free, 1)
        claimed = queue.claim(self.rt, self.worker_id, free, only_job_id)
        for job, node in ((c.job, c.node) for c in claimed):
            task = asyncio.create_task(self._execute(job, node), name=f"job-{job.id}")
            self._running[job.id] = _Running(job, None, task)
            task.add_done_callback(lambda _t, job_id=job.id: self._running.pop(job_id, None))
        return bool(claimed)

    def _finished(self, until_empty: bool, only_job_id: str | None) -> bool:
        if only_job_id:
            job = Job.get_or_none(Job.id == only_job_id)
            return job is None or job.status != "running"
        if until_empty:
            return not Job.select().where(Job.status.in_(("queued", "running"))).exists()
        return False

    # -- one job ------------------------------------------------------------------------

    async def _execute(self, job: JobRecord, node: NodeAddress | None = None) -> None:
        redactor = Redactor()
        job_log = JobLog(log_path(self.rt.paths.job_logs_dir, job.id), job.id,
                         self.rt.clock, redactor)
        ctx: JobContext | None = None
        try:
            job_log.write("info", f"attempt {job.attempt_count}/{job.max_attempts} on "
                                  f"{self.worker_id}")
            ctx = JobContext(self.rt, job, job_log, redactor, self._connection_pool, node)
            ctx.progress_hook = lambda text, ctx=ctx: self._record_progress(ctx, text, False)
            self._running[job.id].ctx = ctx
            await self._run_steps(ctx)
        except BaseException as exc:
            self._record_failure(job, ctx, job_log, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            job_log.write("info", "succeeded")
            running = self._running.get(job.id)
            queue.succeed(self.rt, job, self.worker_id,
                          running.progress_pending if running else None)
        finally:
            job_log.close()

    async def _run_steps(self, ctx: JobContext) -> None:
        job_type = REGISTRY.get(ctx.job.job_type)
        if job_type is None:
            raise JobFailure("UNKNOWN_JOB_TYPE", f"no handler for job type {ctx.job.job_type!r}")
        steps = asyncio.create_task(self._steps(ctx, job_type.steps))
        done, _ = await asyncio.wait({steps}, timeout=job_type.timeout_seconds)
        if not done:
            minutes = job_type.timeout_seconds / 60
            ctx.info(f"time limit of {minutes:g} min reached: stopping the remote process")
            await self._interrupt(ctx, steps, "timeout")
            raise JobFailure("JOB_TIMEOUT", f"{ctx.job.job_type} ran longer than its "
                                            f"{minutes:g} min limit and was stopped")
        steps.result()

    async def _steps(self, ctx: JobContext, steps: tuple) -> None:
        for number, step in enumerate(steps, start=1):
            if ctx.cancel.is_set():
                raise JobFailure("CANCELLED", f"stopped before step {number}: "
                                              f"{ctx.cancel_reason}")
            progress = f"step {number}/{len(steps)}: {step.title}"
            ctx.step_line = progress
            ctx.log.write("----", progress)
            self._record_progress(ctx, progress, first=number == 1)
            await step.run(ctx)

    def _record_progress(self, ctx: JobContext, progress: str, first: bool) -> None:
        """In-process listeners hear every step at once. The database (read by consoles
        in other processes) gets the first step with the claim, then at most one step a
        second per job; the heartbeat and the job's end write what is pending."""
        BUS.publish(JobStateChanged(ctx.job.id, "running", progress))
        running = self._running.get(ctx.job.id)
        if first or running is None:
            return
        now = time.monotonic()
        if now - running.progress_written_at >= PROGRESS_WRITE_INTERVAL:
            queue.set_progress(self.rt, ctx.job.id, self.worker_id, progress)
            running.progress_written_at, running.progress_pending = now, None
        else:
            running.progress_pending = progress

    async def _interrupt(self, ctx: JobContext, task: asyncio.Task[None], reason: str) -> None:
        """Ask the running step to stop (the remote layer kills the process group), then
        cancel it outright if it does not stop within the grace period."""
        ctx.cancel_reason = reason
        ctx.cancel.set()
        done, _ = await asyncio.wait({task}, timeout=self.settings.cancel_grace)
        if not done:
            task.cancel()
        with contextlib.suppress(BaseException):
            await task

    def _stop_job(self, job_id: str, reason: str) -> None:
        running = self._running.get(job_id)
        if running and running.ctx and not running.ctx.cancel.is_set():
            running.ctx.cancel_reason = reason
            running.ctx.cancel.set()

    def _record_failure(self, job: JobRecord, ctx: JobContext | None, job_log: JobLog,
                        exc: BaseException) -> None:
        reason = ctx.cancel_reason if ctx else None
        if reason == "shutdown":
            job_log.write("info", "worker shutting down: job handed back to the queue")
            queue.requeue_interrupted(self.rt, job, self.worker_id)
            return
        code, message = classify(exc, reason)
        if job_log.problem:
            message = f"{message} (also: {job_log.problem})"
        if code == "INTERNAL_ERROR":
            log.error("job %s failed with an internal error", job.id, exc_info=exc)
        job_log.write("info", f"failed: {code}: {message}")
        rolled_back = isinstance(exc, JobFailure) and exc.rolled_back
        status = queue.fail(self.rt, job, self.worker_id, code, message, job_log.tail(),
                            rolled_back=rolled_back)
        if status == "queued":
            job_log.write("info", "will be retried")

    # -- background duties --------------------------------------------------------------

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.settings.heartbeat_seconds)
            presence.refresh(self.rt, self.worker_id)
            for running in list(self._running.values()):
                if running.progress_pending:
                    queue.set_progress(self.rt, running.job.id, self.worker_id,
                                       running.progress_pending)
                    running.progress_pending = None
            for job_id in queue.heartbeat(self.rt, self.worker_id, list(self._running)):
                self._stop_job(job_id, "lost")

    async def _shutdown(self) -> None:
        running = list(self._running.values())
        if not running:
            return
        _done, pending = await asyncio.wait({r.task for r in running},
                                           timeout=self.settings.shutdown_grace)
        for item in running:
            if item.task in pending and item.ctx is not None:
                await self._interrupt(item.ctx, item.task, "shutdown")
            elif item.task in pending:
                item.task.cancel()

    def _connection_pool(self) -> ConnectionPool:
        """Created on first use: jobs that never touch a node need no SSH key."""
        if self._pool is None:
            from pressluft_core.remote.connection import ConnectionPool
            from pressluft_core.remote.keys import ensure_control_key

            self._pool = ConnectionPool(ensure_control_key(self.rt.secrets),
                                        on_new_host_key=_record_host_key)
        return self._pool


def _record_host_key(node_id: str, key_line: str) -> None:
    Node.update(ssh_host_key=key_line).where(
        (Node.id == node_id) & Node.ssh_host_key.is_null()).execute()
