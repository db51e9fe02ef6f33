"""Several worker processes on one database (SQLite and PostgreSQL): every job runs
exactly once, never two at a time for one site or one node; a killed worker's job is
taken back after its lease; SIGTERM hands running jobs back."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from pressluft_core.db import write_transaction
from pressluft_core.models import Job, Node
from pressluft_core.services.jobs import enqueue
from tests.jobs.helpers import make_site


def start_worker(home: Path, database_url: str | None, *extra: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("PRESSLUFT_DATABASE_URL", None)
    if database_url:
        env["PRESSLUFT_DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "pressluft_tui.entry", "--home", str(home), "worker",
         "--poll", "0.1", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def assert_no_overlap(intervals: dict[str, list[tuple[float, float]]], what: str) -> None:
    for key, spans in intervals.items():
        spans.sort()
        for (_s1, end1), (start2, _e2) in itertools.pairwise(spans):
            assert end1 <= start2, f"two jobs of one {what} ({key}) overlapped"


@pytest.mark.slow
def test_1000_jobs_3_workers_exactly_once_and_never_overlapping(
        core, token, home, database_url, tmp_path):
    """The workers are all polling before the first job is queued, and each may run at most
    two jobs at once: no worker can take every node, so the work must be shared (a worker
    that started a second early once ran all 1000 noop jobs alone)."""
    nodes = [core.nodes.register(token, f"node-{n}", f"n{n}.example.com",
                                 public_ip=f"192.0.2.{n + 1}") for n in range(5)]
    sites = [make_site(core, token, f"site-{s}", node=nodes[s % 5].name)[0]
             for s in range(50)]
    record = tmp_path / "executions"
    workers = [start_worker(home, database_url, "--lease", "60", "--concurrency", "2")
               for _ in range(3)]
    try:
        for worker in workers:
            assert "started" in worker.stdout.readline()
        with write_transaction(core.db):
            for number in range(1000):
                enqueue(core.rt, "noop", site_id=sites[number % 50],
                        node_id=nodes[(number // 50) % 5].id,
                        payload={"record": str(record)})
        assert wait_for(lambda: not Job.select().where(
            Job.status.in_(("queued", "running"))).exists(), 240)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out
    statuses = {job.status for job in Job.select(Job.status)}
    assert statuses == {"succeeded"}
    lines = [line.split() for line in record.read_text().splitlines()]
    job_ids = [line[0] for line in lines]
    assert len(job_ids) == 1000 and len(set(job_ids)) == 1000
    assert len({line[1] for line in lines}) == 3, "a worker process did no work"
    jobs = {job.id: job for job in Job.select()}
    by_site, by_node = defaultdict(list), defaultdict(list)
    for job_id, _pid, start, end in lines:
        span = (float(start), float(end))
        by_site[jobs[job_id].site_id].append(span)
        by_node[jobs[job_id].node_id].append(span)
    assert_no_overlap(by_site, "site")
    assert_no_overlap(by_node, "node")


@pytest.mark.slow
def test_kill_9_mid_job_is_taken_back_after_the_lease(core, token, home, database_url,
                                                      local_node, tmp_path):
    record = tmp_path / "executions"
    job = core.jobs.enqueue_diagnostic(token, "noop", node_id=local_node.id,
                                       payload={"sleep": 2, "record": str(record)})
    victim = start_worker(home, database_url, "--lease", "2")
    try:
        assert wait_for(lambda: Job.get_by_id(job.id).status == "running", 30)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        victim.kill()
    assert Job.get_by_id(job.id).status == "running"  # nobody has noticed yet
    rescuer = start_worker(home, database_url, "--lease", "2", "--until-empty")
    out, _ = rescuer.communicate(timeout=60)
    row = Job.get_by_id(job.id)
    assert (row.status, row.attempt_count) == ("succeeded", 2), out
    assert record.read_text().count(job.id) == 1
    assert not Job.select().where(Job.status == "running").exists()


@pytest.mark.slow
def test_sigterm_hands_a_running_job_back_untouched(core, token, home, database_url,
                                                    local_node):
    job = core.jobs.enqueue_diagnostic(token, "noop", node_id=local_node.id,
                                       payload={"sleep": 60})
    worker = start_worker(home, database_url, "--shutdown-grace", "0.2")
    assert wait_for(lambda: Job.get_by_id(job.id).status == "running", 30)
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, out
    row = Job.get_by_id(job.id)
    assert (row.status, row.attempt_count) == ("queued", 0)
    assert Node.select().count() == 1


@pytest.mark.slow
def test_jobs_follow_tails_a_job_run_by_the_daemon(core, token, home, database_url,
                                                   local_node, clock):
    from pressluft_core.clock import SystemClock
    from pressluft_core.session_store import save_token
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    clock.set(SystemClock().now())  # the CLI in the subprocess checks the session's expiry
    cli_token, _ = core.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    save_token(core.rt.paths, cli_token)
    job = core.jobs.enqueue_diagnostic(cli_token, "noop", node_id=local_node.id,
                                       payload={"lines": 5, "sleep": 1})
    daemon = start_worker(home, database_url, "--until-empty")
    env = dict(os.environ)
    env.pop("PRESSLUFT_DATABASE_URL", None)
    if database_url:
        env["PRESSLUFT_DATABASE_URL"] = database_url
    follow = subprocess.run(
        [sys.executable, "-m", "pressluft_tui.entry", "--home", str(home), "jobs", "follow",
         job.id[:8]], env=env, capture_output=True, text=True, timeout=60)
    daemon.communicate(timeout=60)
    assert follow.returncode == 0, follow.stderr
    assert "step 3/3: finish" in follow.stdout and "line 5" in follow.stdout
    assert follow.stdout.rstrip().endswith(f"job {job.id[:8]} succeeded")
