"""Jobs over SSH against the in-process server (and once against the real sshd): node
checks and trust on first use, retries after a dropped connection, timeouts and
cancellation that stop the remote process, hostile payloads, secrets kept out of logs."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from pathlib import Path

import pytest

from pressluft_core.jobs.logs import log_path
from pressluft_core.jobs.registry import REGISTRY
from pressluft_core.jobs.worker import Worker
from pressluft_core.models import Job, Node
from pressluft_core.remote.keys import ensure_control_key
from tests.jobs.helpers import FAST
from tests.sshserver import (
    REAL_SSHD_PORT,
    REAL_SSHD_USER,
    authorized_on_real_sshd,
    control_key,
    needs_real_sshd,
    ssh_server,
    wait_until,
)

__all__ = ["control_key", "ssh_server"]


@pytest.fixture
def node(core, token, ssh_server):  # type: ignore[no-untyped-def]
    """A node record pointing at the in-process SSH server, which trusts our key."""
    ssh_server.authorize(ensure_control_key(core.rt.secrets))
    return core.nodes.register(token, "testnode", ssh_server.host, ssh_port=ssh_server.port,
                               public_ip="192.0.2.9")


def run_job(core, job_id: str) -> Job:  # type: ignore[no-untyped-def]
    asyncio.run(Worker(core.rt, FAST).run(only_job_id=job_id))
    return Job.get_by_id(job_id)


def log_text(core, job_id: str) -> str:  # type: ignore[no-untyped-def]
    path = log_path(core.rt.paths.job_logs_dir, job_id)
    return path.read_text() if path.exists() else ""


def test_node_check_records_host_key_and_marks_node_active(core, token, node, ssh_server):
    job = core.nodes.check(token, node.name)
    assert run_job(core, job.id).status == "succeeded"
    row = Node.get_by_id(node.id)
    assert row.status == "active" and row.last_seen_at is not None
    assert row.ssh_host_key == ssh_server.host_key_line
    assert "step 2/3: probe the node" in log_text(core, job.id)


def test_changed_host_key_is_refused_and_the_node_marked_unreachable(core, token, node,
                                                                     ssh_server):
    assert run_job(core, core.nodes.check(token, node.name).id).status == "succeeded"
    ssh_server.restart(new_host_key=True)
    job = run_job(core, core.nodes.check(token, node.name).id)
    assert (job.status, job.error_code) == ("failed", "HOST_KEY_CHANGED")
    assert "SHA256:" in job.error_message
    assert Node.get_by_id(node.id).status == "unreachable"
    assert Node.get_by_id(node.id).ssh_host_key != ssh_server.host_key_line  # kept the old


def test_dropped_connection_retries_with_backoff_then_succeeds(core, token, node, ssh_server,
                                                               clock):
    marker = ssh_server.workdir / "second-attempt"
    script = (f"if [ -e {marker} ]; then echo finished; "
              f"else touch {marker}; echo started; sleep 30; fi")
    job = core.jobs.enqueue_diagnostic(token, "noop", node_id=node.id,
                                       payload={"command": ["sh", "-c", script]})
    dropper = threading.Thread(target=lambda: (
        wait_until(lambda: "started" in log_text(core, job.id), 20),
        ssh_server.drop_connections()))
    dropper.start()
    first = run_job(core, job.id)
    dropper.join()
    assert (first.status, first.error_code, first.attempt_count) == (
        "queued", "CONNECTION_LOST", 1)
    assert first.run_after == "2026-03-01T12:01:00Z"  # 1 minute after the clock's now
    assert run_job(core, job.id).status == "queued"  # not due yet: nobody claimed it
    clock.advance(minutes=1)
    second = run_job(core, job.id)
    assert (second.status, second.attempt_count) == ("succeeded", 2)
    assert "finished" in log_text(core, job.id)


def test_after_three_dropped_connections_the_job_fails_with_code_and_tail(
        core, token, node, ssh_server, clock):
    job = core.jobs.enqueue_diagnostic(
        token, "noop", node_id=node.id,
        payload={"command": ["sh", "-c", "echo working on it; sleep 30"]})
    def drop_once_working(attempt: int) -> None:
        wait_until(lambda: log_text(core, job.id).count("working on it") >= attempt, 20)
        ssh_server.drop_connections()

    for attempt in (1, 2, 3):
        dropper = threading.Thread(target=drop_once_working, args=(attempt,))
        dropper.start()
        row = run_job(core, job.id)
        dropper.join()
        clock.advance(minutes=15)
    assert (row.status, row.error_code, row.attempt_count) == ("failed", "CONNECTION_LOST", 3)
    assert "working on it" in row.error_message.split("--- last output ---")[1]


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_timeout_fails_with_job_timeout_and_kills_the_remote_process(
        core, token, node, ssh_server, monkeypatch):
    monkeypatch.setitem(REGISTRY, "noop",
                        dataclasses.replace(REGISTRY["noop"], timeout_seconds=2))
    pidfile = ssh_server.workdir / "pid"
    job = core.jobs.enqueue_diagnostic(
        token, "noop", node_id=node.id,
        payload={"command": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"]})
    row = run_job(core, job.id)
    assert (row.status, row.error_code) == ("failed", "JOB_TIMEOUT")
    assert wait_until(lambda: _pid_gone(int(pidfile.read_text())), 10)


def test_cancelling_a_running_job_kills_the_remote_process(core, token, node, ssh_server):
    pidfile = ssh_server.workdir / "pid"
    job = core.jobs.enqueue_diagnostic(
        token, "noop", node_id=node.id,
        payload={"command": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"]})
    canceller = threading.Thread(target=lambda: (
        wait_until(pidfile.exists, 20), core.jobs.cancel(token, job.id)))
    canceller.start()
    row = run_job(core, job.id)
    canceller.join()
    assert row.status == "cancelled"
    assert wait_until(lambda: _pid_gone(int(pidfile.read_text())), 10)


def test_hostile_payload_values_reach_the_node_as_data(core, token, node, tmp_path):
    pwned = tmp_path / "pwned"
    hostile = [f"$(touch {pwned})", f"`touch {pwned}`", f"; touch {pwned}", "a'b\"c",
               "line1\nline2"]
    job = core.jobs.enqueue_diagnostic(token, "noop", node_id=node.id,
                                       payload={"command": ["printf", "%s|", *hostile]})
    assert run_job(core, job.id).status == "succeeded"
    assert not pwned.exists()
    assert "|".join(hostile).split("\n")[0] in log_text(core, job.id)


def test_secrets_never_reach_the_log_or_the_error_message(core, token, node):
    secret = "s3cr3t-Pa55-w0rd-%$"
    core.rt.secrets.put("test.db-password", secret)
    job = core.jobs.enqueue_diagnostic(
        token, "noop", node_id=node.id,
        payload={"command": ["sh", "-c", "echo got: $(cat); echo again; cat /dev/null"],
                 "stdin_secret_ref": "test.db-password", "fail": "COMMAND_FAILED"})
    row = run_job(core, job.id)
    assert row.status == "failed"
    text = log_text(core, job.id)
    assert "got: ********" in text and secret not in text
    assert secret not in row.error_message and secret not in row.payload_json


@needs_real_sshd
def test_node_check_against_the_real_sshd(core, token):
    assert REAL_SSHD_PORT and REAL_SSHD_USER
    key = ensure_control_key(core.rt.secrets)
    with authorized_on_real_sshd(key):
        node = core.nodes.register(token, "real-sshd", "127.0.0.1",
                                   ssh_port=int(REAL_SSHD_PORT), ssh_user=REAL_SSHD_USER,
                                   public_ip="192.0.2.10")
        row = run_job(core, core.nodes.check(token, node.name).id)
    assert row.status == "succeeded", row.error_message
    assert Node.get_by_id(node.id).status == "active"
    assert "Python 3" in log_text(core, row.id)


def test_a_changed_host_key_is_accepted_only_after_the_operator_forgets_the_old_one(
        core, token, node, ssh_server):
    from pressluft_core.errors import ValidationError

    with pytest.raises(ValidationError, match="no recorded host key"):
        core.nodes.forget_host_key(token, node.name)
    # One worker throughout, as a daemon: its connection pool remembers keys it learned.
    worker = Worker(core.rt, FAST)

    async def run(job_id: str) -> Job:
        await worker.run(only_job_id=job_id)
        return Job.get_by_id(job_id)

    async def scenario() -> None:
        assert (await run(core.nodes.check(token, node.name).id)).status == "succeeded"
        ssh_server.restart(new_host_key=True)
        refused = await run(core.nodes.check(token, node.name).id)
        assert refused.error_code == "HOST_KEY_CHANGED"
        assert "pressluft node forget-host-key" in refused.error_message
        core.nodes.forget_host_key(token, node.name)
        assert (await run(core.nodes.check(token, node.name).id)).status == "succeeded"

    asyncio.run(scenario())
    assert Node.get_by_id(node.id).ssh_host_key == ssh_server.host_key_line
