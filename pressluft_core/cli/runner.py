"""CLI commands around the job runner: the worker daemon, following and cancelling jobs,
and node checks and provisioning that run their job right away."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from pressluft_core.app import Pressluft
from pressluft_core.cli import output
from pressluft_core.cli.handlers import _open, _session
from pressluft_core.jobs.logs import follow, log_path
from pressluft_core.jobs.worker import Worker, WorkerSettings
from pressluft_core.records import JobRecord

TERMINAL = ("succeeded", "failed", "cancelled")


def worker(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT; running jobs finish (or are handed back) first."""
    app = _open(args)
    settings = WorkerSettings(poll_interval=args.poll, lease_seconds=args.lease,
                              heartbeat_seconds=max(args.lease / 4, 0.2),
                              max_concurrent=args.concurrency,
                              shutdown_grace=args.shutdown_grace)
    runner = Worker(app.rt, settings, mode="daemon")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"pressluft worker {runner.worker_id} started ({app.backend})", flush=True)
        await runner.run(stop, until_empty=args.until_empty)

    asyncio.run(main())
    print(f"pressluft worker {runner.worker_id} stopped", flush=True)
    return 0


def run_now(app: Pressluft, job: JobRecord, show_output: bool = True) -> JobRecord:
    """Run ``job`` in this process right away, or, if another worker has it, follow it."""
    asyncio.run(Worker(app.rt, WorkerSettings(run_scheduler=False)).run(only_job_id=job.id))
    return wait_for(app, job.id, show_output)


def wait_for(app: Pressluft, job_id: str, show_output: bool) -> JobRecord:
    from pressluft_core.models import Job
    from pressluft_core.records import from_row

    def finished() -> bool:
        return Job.get_by_id(job_id).status in TERMINAL

    for line in follow(log_path(app.rt.paths.job_logs_dir, job_id), finished):
        if show_output:
            print(line, flush=True)
    return from_row(JobRecord, Job.get_by_id(job_id))


def jobs_follow(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.jobs.get(token, args.job_id)
    final = wait_for(app, job.id, show_output=True)
    print(f"job {final.id[:8]} {final.status}"
          + (f": {final.error_code}" if final.error_code else ""))
    return 0 if final.status == "succeeded" else 1


def jobs_cancel(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.jobs.cancel(token, args.job_id)
    print(f"job {job.id[:8]} ({job.job_type}) cancelled")
    return 0


def node_check(args: argparse.Namespace) -> int:
    app, token = _session(args)
    return _check_and_report(app, token, args.name, args.json)


def _check_and_report(app: Pressluft, token: str, node_ref: str, as_json: bool) -> int:
    job = app.nodes.check(token, node_ref)
    final = run_now(app, job, show_output=not as_json)
    node = app.nodes.get(token, node_ref)
    if as_json:
        output.emit_json({"node": node, "job": final})
    elif final.status == "succeeded":
        print(f"node {node.name}: {node.status}, last seen {node.last_seen_at}")
    else:
        print(f"node {node.name}: {node.status} — {final.error_message.splitlines()[0]}",
              file=sys.stderr)
        if final.error_code == "SSH_AUTH_FAILED":
            print(f"install this key for {node.ssh_user} on {node.hostname}:\n"
                  f"{app.nodes.public_key(token)}", file=sys.stderr)
    return 0 if final.status == "succeeded" else 1


def node_provision(args: argparse.Namespace) -> int:
    """Provision now, showing the job's log as it runs; exit 0 only when it succeeded."""
    app, token = _session(args)
    job = app.nodes.provision(token, args.name, sites_root=args.sites_root)
    final = run_now(app, job)
    node = app.nodes.get(token, args.name)
    if final.status == "succeeded":
        print(f"node {node.name}: provisioned, {node.status}")
        return 0
    first = final.error_message.splitlines()[0] if final.error_message else final.status
    print(f"node {node.name}: provisioning {final.status} — {first}", file=sys.stderr)
    return 1


def node_add(args: argparse.Namespace) -> int:
    app, token = _session(args)
    node = app.nodes.register(token, args.name, args.hostname, ssh_port=args.port,
                              ssh_user=args.user, public_ip=args.public_ip,
                              is_local=args.local)
    if not args.json:
        print(f"node {node.name} registered ({node.id})")
    if args.no_check:
        if args.json:
            output.emit_json(node)
        return 0
    return _check_and_report(app, token, node.id, args.json)


def node_key(args: argparse.Namespace) -> int:
    app, token = _session(args)
    print(app.nodes.public_key(token))
    return 0


