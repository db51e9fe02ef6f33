"""``python -m bench jobs``: the job runner against a real OpenSSH sshd on loopback.

Side by side in one run, on the same sshd and node user:
- ``per_job_ms``: median wall time from enqueue to ``succeeded`` of a job that runs
  ``true`` on the node (connection warm), and ``ansible_per_job_ms``: median time of
  ``ansible-playbook`` running a one-task playbook doing the same ``true`` (ansible-core
  from PyPI, pipelining on, facts off). ``speedup`` = ansible / ours (target ≥ 100).
- ``jobs_per_s_sqlite`` and ``jobs_per_s_postgres``: 2,000 such jobs over 200 sites and
  4 nodes, one worker (targets, issue 15: ≥ 250 jobs/s on SQLite, ≥ 200 on PostgreSQL).
Needs root (it starts sshd and PostgreSQL like scripts/test does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

from bench import _services
from bench._report import report
from pressluft_core.app import Pressluft
from pressluft_core.db import write_transaction
from pressluft_core.jobs.embedded import EmbeddedWorker
from pressluft_core.jobs.events import BUS, JobStateChanged
from pressluft_core.jobs.worker import Worker, WorkerSettings
from pressluft_core.models import Environment, Job
from pressluft_core.remote.keys import ensure_control_key
from pressluft_core.services.jobs import enqueue
from tests.sshserver import authorized_on_real_sshd

EMAIL, PASSWORD = "bench@example.com", "bench password 123"
SETTINGS = WorkerSettings(poll_interval=0.5, run_scheduler=False, max_concurrent=8)


def installation(home: Path, database_url: str, port: int, user: str,
                 nodes: int) -> tuple[Pressluft, str, list[str]]:
    core = Pressluft.open(home, database_url=database_url)
    core.auth.create_admin(EMAIL, "Bench", PASSWORD)
    token, _ = core.auth.login(EMAIL, PASSWORD)
    node_ids = [core.nodes.register(token, f"node-{n}", "127.0.0.1", ssh_port=port,
                                    ssh_user=user, public_ip=f"192.0.2.{n + 1}").id
                for n in range(nodes)]
    return core, token, node_ids


def per_job_latency(core: Pressluft, token: str, node_id: str, count: int) -> float:
    """Median ms from enqueue (in this process, as the console does) to succeeded."""
    done: dict[str, threading.Event] = {}

    def on_event(event: object) -> None:
        if isinstance(event, JobStateChanged) and event.status == "succeeded":
            waiter = done.get(event.job_id)
            if waiter:
                waiter.set()

    unsubscribe = BUS.subscribe(on_event)
    embedded = EmbeddedWorker(core.rt, SETTINGS)
    embedded.start()
    samples = []
    try:
        for number in range(count + 5):
            started = time.perf_counter()
            with write_transaction(core.db):
                job = enqueue(core.rt, "noop", node_id=node_id, payload={"command": ["true"]})
                done[job.id] = threading.Event()
            if not done[job.id].wait(30):
                raise RuntimeError(f"job {job.id} did not finish: "
                                   f"{Job.get_by_id(job.id).error_message}")
            if number >= 5:  # the first ones open the connection and start the agent
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        embedded.stop()
        unsubscribe()
    return statistics.median(samples)


def throughput(core: Pressluft, token: str, node_ids: list[str], jobs: int, sites: int) -> float:
    site_ids = []
    for number in range(sites):
        job = core.sites.create(token, f"Site {number}", f"site-{number}", node=node_ids[0])
        Job.delete().where(Job.id == job.id).execute()
        Environment.update(status="active").where(Environment.id == job.environment_id).execute()
        site_ids.append(job.site_id)
    with write_transaction(core.db):
        for number in range(jobs):
            enqueue(core.rt, "noop", site_id=site_ids[number % sites],
                    node_id=node_ids[number % len(node_ids)], payload={"command": ["true"]})
    worker = Worker(core.rt, SETTINGS)
    started = time.perf_counter()
    asyncio.run(worker.run(until_empty=True))
    elapsed = time.perf_counter() - started
    failed = Job.select().where(Job.status != "succeeded").count()
    if failed:
        raise RuntimeError(f"{failed} jobs did not succeed")
    return jobs / elapsed


def ansible_latency(port: int, user: str, key_file: Path, work: Path, count: int) -> float:
    venv = Path(os.environ.get("PRESSLUFT_BENCH_TOOLS", "/tmp/pressluft-bench-tools"))
    playbook_bin = venv / "bin" / "ansible-playbook"
    if not playbook_bin.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "ansible-core"],
                       check=True)
    (work / "inventory.ini").write_text(
        f"node ansible_host=127.0.0.1 ansible_port={port} ansible_user={user} "
        f"ansible_ssh_private_key_file={key_file} "
        f"ansible_python_interpreter=/usr/bin/python3\n")
    (work / "ansible.cfg").write_text(
        "[defaults]\nhost_key_checking = False\ngathering = explicit\n"
        "[ssh_connection]\npipelining = True\n")
    (work / "true.yml").write_text(
        "- hosts: node\n  gather_facts: false\n  tasks:\n"
        "    - name: run true\n      ansible.builtin.command: /bin/true\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(work / "ansible.cfg"))
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        subprocess.run([str(playbook_bin), "-i", str(work / "inventory.ini"),
                        str(work / "true.yml")], check=True, env=env, cwd=work,
                       stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def fresh_pg_database(admin_url: str) -> str:
    name = f"plbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench jobs")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--ansible-runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=200)
    args = parser.parse_args(argv)
    env = _services.start("postgres", "sshd")
    port, user = int(env["PRESSLUFT_TEST_SSHD_PORT"]), env["PRESSLUFT_TEST_SSHD_USER"]
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        core, token, nodes = installation(work / "latency", "", port, user, 1)
        key = ensure_control_key(core.rt.secrets)
        key_file = work / "control_key"
        key_file.write_bytes(key.export_private_key("openssh"))
        key_file.chmod(0o600)
        result: dict[str, float] = {}
        with authorized_on_real_sshd(key):
            result["per_job_ms"] = per_job_latency(core, token, nodes[0], args.samples)
            result["ansible_per_job_ms"] = ansible_latency(port, user, key_file, work,
                                                           args.ansible_runs)
            core.close()
            for backend, url in (("sqlite", ""),
                                 ("postgres", fresh_pg_database(env["PRESSLUFT_TEST_PG_URL"]))):
                home = work / backend
                core, token, nodes = installation(home, url, port, user, 4)
                core.rt.secrets.put("ssh.control-key", key.export_private_key("openssh"))
                result[f"jobs_per_s_{backend}"] = throughput(core, token, nodes, args.jobs,
                                                             args.sites)
                core.close()
    result["speedup"] = result["ansible_per_job_ms"] / result["per_job_ms"]
    result = {key: round(value, 2) for key, value in result.items()}
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
