"""One Pressluft installation driving this machine's real stack (OpenSSH sshd on loopback,
nginx, PHP-FPM, MariaDB) through its services, as the console does: for benchmarks that
time real jobs on a real node.

The same steps as ``tests/wordpress/stack.py``, copied rather than imported so that a
benchmark does not depend on the test suite (pytest fixtures, skip markers). Everything it
puts on the node lives under a sites root of its own and is removed when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from bench import _services
from pressluft_core.app import Pressluft
from pressluft_core.jobs.events import BUS, JobEvent, JobOutput
from pressluft_core.jobs.handlers.envctl import env_inputs
from pressluft_core.jobs.logs import log_path
from pressluft_core.jobs.worker import Worker, WorkerSettings
from pressluft_core.models import Environment, Job
from pressluft_core.node.bundle import command as node_command
from pressluft_core.remote.keys import ensure_control_key, key_line

WP_SOURCE = os.environ.get("PRESSLUFT_TEST_WP_DIR", "/opt/pressluft-test/wordpress")
ADMIN = ("bench@example.com", "Bench Admin", "correct horse battery staple")
NODE = "bench-node"
# Fast pickup, but a heartbeat rare enough not to add SQLite writes to a timed job.
SETTINGS = WorkerSettings(poll_interval=0.05, lease_seconds=120, heartbeat_seconds=5.0,
                          cancel_grace=2.0, shutdown_grace=0.2, run_scheduler=False)


def sshd() -> tuple[int, str]:
    """Port and user of the real sshd: the ones in the environment (scripts/test exports
    them), else started the way scripts/test starts it."""
    port, user = os.environ.get("PRESSLUFT_TEST_SSHD_PORT"), os.environ.get(
        "PRESSLUFT_TEST_SSHD_USER")
    if not (port and user):
        env = _services.start("sshd")
        os.environ.update(env)
        port, user = env.get("PRESSLUFT_TEST_SSHD_PORT"), env.get("PRESSLUFT_TEST_SSHD_USER")
    if not (port and user):
        raise SystemExit("no real sshd (needs root and openssh-server, see "
                         "scripts/lib/services.sh start_sshd)")
    return int(port), user


@contextlib.contextmanager
def authorized(key: asyncssh.SSHKey, user: str) -> Iterator[None]:
    """Authorize ``key`` for the sshd's node user while the block runs. The file is shared
    with tests and other benchmarks: edits happen under an exclusive flock and touch only
    this key's line (as tests/sshserver.py ``authorized_on_real_sshd`` does)."""
    run_dir = Path(os.environ.get("PRESSLUFT_TEST_RUN_DIR", "/tmp/pressluft-test"))
    path = run_dir / "sshd" / "authorized_keys" / user
    line = key_line(key, with_comment=True) + "\n"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(line)
    try:
        yield
    finally:
        with path.open("r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            kept = [kept for kept in handle.readlines() if kept != line]
            handle.seek(0)
            handle.writelines(kept)
            handle.truncate()


@dataclass
class TimedLine:
    """One line of a job's log as it arrived: seconds since the job was enqueued, its tag
    (``----`` step marker, ``out``/``err`` node output, ``info``) and its text."""
    at: float
    tag: str
    text: str


@dataclass
class JobRun:
    job: Job
    seconds: float
    lines: list[TimedLine] = field(default_factory=list)


@dataclass
class Stack:
    core: Pressluft
    token: str
    sites_root: Path

    def run(self, enqueue: object) -> JobRun:
        """Enqueue with ``enqueue()`` (a service call returning the job) and run that job
        to its end in a worker of its own; wall time from before the enqueue to the end.
        The lines are timestamped as the worker writes them (the log file's own stamps
        have whole seconds only)."""
        lines: list[TimedLine] = []
        job_ids: list[str] = []
        started = time.perf_counter()

        def on_event(event: JobEvent) -> None:
            if isinstance(event, JobOutput) and job_ids and event.job_id == job_ids[0]:
                now = time.perf_counter() - started
                for line in event.lines:
                    # "<time> <tag padded to 4> <text>", as JobLog.write makes it
                    _, _, rest = line.partition(" ")
                    tag = rest.split(" ", 1)[0]
                    lines.append(TimedLine(now, tag, rest[max(len(tag), 4) + 1:]))

        unsubscribe = BUS.subscribe(on_event)
        try:
            job = enqueue()  # type: ignore[operator]
            job_ids.append(job.id)
            asyncio.run(Worker(self.core.rt, SETTINGS).run(only_job_id=job.id))
            seconds = time.perf_counter() - started
        finally:
            unsubscribe()
        done = Job.get_by_id(job.id)
        if done.status != "succeeded":
            raise RuntimeError(f"job {done.job_type} {done.id} {done.status}: "
                               f"{done.error_message}\n{self.log(done.id)[-4000:]}")
        return JobRun(done, seconds, lines)

    def log(self, job_id: str) -> str:
        path = log_path(self.core.rt.paths.job_logs_dir, job_id)
        return path.read_text() if path.exists() else ""

    def env(self, site: str, env: str) -> Environment:
        return Environment.get_by_id(self.core.environments.get(self.token, site, env).id)


def remove_from_node(env: Environment) -> None:
    """Undo an environment on this machine: its user, pool, database, nginx block, files."""
    subprocess.run([*node_command("envctl"), "remove"],
                   input=json.dumps(env_inputs(env)).encode(), capture_output=True,
                   check=False)


@contextlib.contextmanager
def real_stack(home: Path) -> Iterator[Stack]:
    """A fresh installation in ``home`` with this machine registered and provisioned as a
    node over the real sshd; on exit every environment it made is removed from the node."""
    if os.geteuid() != 0:
        raise SystemExit("needs root (the node is this machine)")
    if not Path(WP_SOURCE, "wp-settings.php").is_file():
        raise SystemExit(f"no WordPress files at {WP_SOURCE} (scripts/test installs them)")
    port, user = sshd()
    core = Pressluft.open(home)
    sites_root = Path("/var/tmp/pressluft-bench") / uuid.uuid4().hex[:8]
    try:
        core.auth.create_admin(*ADMIN)
        token, _ = core.auth.login(ADMIN[0], ADMIN[2])
        core.settings.set(token, "wordpress_source", WP_SOURCE)
        with authorized(ensure_control_key(core.rt.secrets), user):
            core.nodes.register(token, NODE, "127.0.0.1", ssh_port=port, ssh_user=user,
                                public_ip="127.0.0.1")
            stack = Stack(core, token, sites_root)
            stack.run(lambda: core.nodes.provision(token, NODE, sites_root=str(sites_root)))
            yield stack
    finally:
        for env in Environment.select():
            remove_from_node(env)
        subprocess.run(["rm", "-rf", str(sites_root)], check=False)
        core.close()
