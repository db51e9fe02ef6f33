"""The worker in this process: steps and progress, logs, failures, timeouts,
cancellation, waking on enqueue, and the scheduler's once-per-period promise."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from pressluft_core.db import write_transaction
from pressluft_core.jobs.embedded import EmbeddedWorker
from pressluft_core.jobs.events import BUS, JobOutput
from pressluft_core.jobs.logs import follow, log_path
from pressluft_core.jobs.registry import REGISTRY, load_handlers
from pressluft_core.jobs.scheduler import PeriodicJob, Scheduler, daily
from pressluft_core.models import Job, JobSchedule
from pressluft_core.services.jobs import enqueue
from tests.jobs.helpers import FAST, make_site, noop, run_worker


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_job_runs_its_steps_and_logs_progress(core, token, local_node):
    site, _ = make_site(core, token, "alpha")
    seen = []
    unsubscribe = BUS.subscribe(lambda e: seen.extend(e.lines) if isinstance(e, JobOutput)
                                else None)
    try:
        job = noop(core, site_id=site, node_id=local_node.id, lines=3)
        run_worker(core)
    finally:
        unsubscribe()
    row = Job.get_by_id(job.id)
    assert (row.status, row.attempt_count, row.progress) == ("succeeded", 1,
                                                              "step 3/3: finish")
    text = log_path(core.rt.paths.job_logs_dir, job.id).read_text()
    assert "step 1/3: prepare" in text and "step 3/3: finish" in text
    assert "out  line 3" in text
    assert any(line.endswith("line 2") for line in seen)  # subscribers got it too


def test_failure_records_code_message_and_output_tail(core, token, local_node):
    job = noop(core, node_id=local_node.id, lines=5, fail="COMMAND_FAILED")
    run_worker(core)
    row = Job.get_by_id(job.id)
    assert (row.status, row.error_code) == ("failed", "COMMAND_FAILED")
    assert "asked to fail" in row.error_message and "line 5" in row.error_message


def test_unknown_job_type_fails_cleanly(core, token, local_node, monkeypatch):
    with write_transaction(core.db):
        job = enqueue(core.rt, "node_provision", payload={}, node_id=local_node.id)
    load_handlers()  # registered first, so the removal below is what the worker sees
    monkeypatch.delitem(REGISTRY, "node_provision", raising=False)  # restored afterwards
    run_worker(core)
    assert Job.get_by_id(job.id).error_code == "UNKNOWN_JOB_TYPE"


def test_timeout_fails_with_job_timeout_and_skips_remaining_steps(
        core, token, local_node, monkeypatch, tmp_path):
    monkeypatch.setitem(REGISTRY, "noop",
                        dataclasses.replace(REGISTRY["noop"], timeout_seconds=0.3))
    record = tmp_path / "ran"
    job = noop(core, node_id=local_node.id, sleep=30, record=str(record))
    started = time.monotonic()
    run_worker(core)
    assert time.monotonic() - started < 10
    row = Job.get_by_id(job.id)
    assert (row.status, row.error_code) == ("failed", "JOB_TIMEOUT")
    assert not record.exists()


def test_enqueue_in_this_process_wakes_the_worker_and_cancel_stops_a_running_job(
        core, token, local_node):
    embedded = EmbeddedWorker(core.rt, dataclasses.replace(FAST, poll_interval=60))
    embedded.start()
    try:
        long = core.jobs.enqueue_diagnostic(token, "noop", payload={"sleep": 60},
                                            node_id=local_node.id)
        assert wait_until(lambda: Job.get_by_id(long.id).status == "running")
        core.jobs.cancel(token, long.id)
        assert wait_until(lambda: long.id not in embedded.worker._running)
        quick = core.jobs.enqueue_diagnostic(token, "noop", payload={},
                                             node_id=local_node.id)
        assert wait_until(lambda: Job.get_by_id(quick.id).status == "succeeded")
    finally:
        embedded.stop()
    assert Job.get_by_id(long.id).status == "cancelled"
    assert "cancelled" in log_path(core.rt.paths.job_logs_dir, long.id).read_text()


def test_follow_reads_a_log_while_it_grows(tmp_path):
    path = tmp_path / "job.log"
    done = threading.Event()

    def writer():
        with path.open("a", buffering=1) as handle:
            for number in range(50):
                handle.write(f"line {number}\n")
                time.sleep(0.002)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    lines = list(follow(path, done.is_set, poll_seconds=0.01))
    thread.join()
    assert lines == [f"line {n}" for n in range(50)]


def test_scheduler_enqueues_once_per_period_across_workers(core, token, clock):
    cleanup = PeriodicJob("test-cleanup", "backup_cleanup", daily)
    first, second = Scheduler(core.rt, [cleanup]), Scheduler(core.rt, [cleanup])
    created = first.tick() + second.tick() + first.tick()
    assert len(created) == 1
    clock.advance(days=1)
    assert len(second.tick()) == 1 and first.tick() == []
    assert JobSchedule.select().count() == 2
    assert Job.select().where(Job.job_type == "backup_cleanup").count() == 2


@pytest.mark.parametrize("payload_key", ["password", "db_secret", "private_key"])
def test_payload_refuses_secrets(core, token, local_node, payload_key):
    from pressluft_core.errors import ValidationError

    with pytest.raises(ValidationError, match=payload_key):
        core.jobs.enqueue_diagnostic(token, "noop", payload={payload_key: "x"},
                                     node_id=local_node.id)


def test_a_full_disk_under_the_job_log_does_not_strand_the_job(core, token, local_node,
                                                                monkeypatch):
    """ENOSPC while writing the log: the job still ends (here: fails as asked) and its
    error says the log is incomplete; nothing is left running."""
    import errno

    from pressluft_core.jobs import logs

    real_write = logs.JobLog._write_file

    def full_disk(self, text):  # type: ignore[no-untyped-def]
        if "step 2/3" in text:
            self._file.write = _raise_enospc  # from here on the disk is full
        real_write(self, text)

    def _raise_enospc(_text):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(logs.JobLog, "_write_file", full_disk)
    job = noop(core, node_id=local_node.id, lines=2, fail="COMMAND_FAILED")
    run_worker(core)
    row = Job.get_by_id(job.id)
    assert (row.status, row.error_code) == ("failed", "COMMAND_FAILED")
    assert "No space left on device" in row.error_message
    assert "output is incomplete" in row.error_message
