"""The queue's rules, driven directly with an injectable clock: exclusivity per site and
node, FIFO per site, retries with backoff, lease recovery, cancellation, state moves."""

from __future__ import annotations

import pytest

from pressluft_core.errors import StateError
from pressluft_core.jobs import queue
from pressluft_core.jobs.registry import REGISTRY, JobType
from pressluft_core.models import Environment, Job
from tests.jobs.helpers import make_site, noop

W1, W2 = "host-a:1", "host-b:2"


@pytest.fixture
def nodes(core, token, local_node):
    other = core.nodes.register(token, "web-2", "web2.example.com", public_ip="192.0.2.2")
    return local_node, other


def test_one_running_job_per_site_and_per_node(core, token, nodes):
    local, other = nodes
    site_a, _ = make_site(core, token, "alpha")
    site_b, _ = make_site(core, token, "beta", node="web-2")
    site_c, _ = make_site(core, token, "gamma", node="web-2")
    first = noop(core, site_id=site_a, node_id=local.id)
    same_site = noop(core, site_id=site_a, node_id=other.id)
    same_node = noop(core, site_id=site_b, node_id=local.id)
    free = noop(core, site_id=site_c, node_id=other.id)

    assert queue.claim_next(core.rt, W1).id == first.id
    # same_site waits for its site, same_node for its node: only `free` can start.
    assert queue.claim_next(core.rt, W2).id == free.id
    assert queue.claim_next(core.rt, W2) is None
    assert queue.succeed(core.rt, queue_record(first.id), W1)
    assert queue.claim_next(core.rt, W1).id == same_node.id  # node free, other node busy
    assert queue.claim_next(core.rt, W1) is None
    assert queue.succeed(core.rt, queue_record(free.id), W2)
    assert queue.claim_next(core.rt, W2).id == same_site.id


def queue_record(job_id):
    from pressluft_core.records import JobRecord, from_row

    return from_row(JobRecord, Job.get_by_id(job_id))


def test_jobs_of_one_site_run_in_the_order_they_were_queued(core, token, nodes):
    local, other = nodes
    site, _ = make_site(core, token, "alpha")
    ids = [noop(core, site_id=site, node_id=(local if i % 2 else other).id).id
           for i in range(5)]
    order = []
    for _ in ids:
        job = queue.claim_next(core.rt, W1)
        order.append(job.id)
        queue.succeed(core.rt, job, W1)
    assert order == ids


def test_retryable_failure_backs_off_1_then_5_minutes_then_fails(core, token, nodes, clock):
    local, _ = nodes
    job = noop(core, node_id=local.id)
    for attempt, delay in ((1, 60), (2, 300)):
        claimed = queue.claim_next(core.rt, W1)
        assert claimed.attempt_count == attempt
        assert queue.fail(core.rt, claimed, W1, "CONNECTION_LOST", "dropped", "tail") == "queued"
        assert queue.claim_next(core.rt, W1) is None  # not before its run_after
        clock.advance(seconds=delay - 1)
        assert queue.claim_next(core.rt, W1) is None
        clock.advance(seconds=1)
    claimed = queue.claim_next(core.rt, W1)
    assert claimed.attempt_count == 3
    assert queue.fail(core.rt, claimed, W1, "CONNECTION_LOST", "dropped again",
                      "last lines") == "failed"
    row = Job.get_by_id(job.id)
    assert (row.status, row.error_code) == ("failed", "CONNECTION_LOST")
    assert row.error_message.startswith("dropped again") and "last lines" in row.error_message


def test_non_retryable_failure_fails_at_once_with_a_bounded_tail(core, token, nodes):
    local, _ = nodes
    noop(core, node_id=local.id)
    claimed = queue.claim_next(core.rt, W1)
    tail = "x" * 50_000
    assert queue.fail(core.rt, claimed, W1, "COMMAND_FAILED", "boom", tail) == "failed"
    message = Job.get_by_id(claimed.id).error_message
    assert message.startswith("boom") and len(message.encode()) < 10 * 1024 + 100


def test_expired_lease_is_taken_back_and_a_late_finisher_changes_nothing(
        core, token, nodes, clock):
    local, _ = nodes
    noop(core, node_id=local.id)
    claimed = queue.claim_next(core.rt, W1)
    clock.advance(seconds=30)
    assert queue.recover_expired(core.rt, lease_seconds=60) == []
    clock.advance(seconds=31)
    assert queue.recover_expired(core.rt, lease_seconds=60) == [claimed.id]
    row = Job.get_by_id(claimed.id)
    assert (row.status, row.error_code) == ("queued", "WORKER_LOST")
    assert not queue.succeed(core.rt, claimed, W1)  # the dead worker's late word is ignored
    again = queue.claim_next(core.rt, W2)
    assert again.id == claimed.id and again.attempt_count == 2
    assert queue.succeed(core.rt, again, W2)


def test_heartbeat_keeps_the_lease_and_reports_jobs_no_longer_ours(core, token, nodes, clock):
    local, _ = nodes
    noop(core, node_id=local.id)
    claimed = queue.claim_next(core.rt, W1)
    clock.advance(seconds=50)
    assert queue.heartbeat(core.rt, W1, [claimed.id]) == set()
    clock.advance(seconds=50)
    assert queue.recover_expired(core.rt, lease_seconds=60) == []
    core.jobs.cancel(token, claimed.id)
    assert queue.heartbeat(core.rt, W1, [claimed.id]) == {claimed.id}


@pytest.fixture
def deploy_type(monkeypatch):
    """A mutating job type (the real handlers come with the WordPress layer)."""
    registered = JobType(name="env_deploy", steps=(), running_status="deploying")
    monkeypatch.setitem(REGISTRY, "env_deploy", registered)
    return registered


def test_environment_status_follows_the_job(core, token, nodes, deploy_type):
    local, _ = nodes
    site, env = make_site(core, token, "alpha")
    noop(core, job_type="env_deploy", site_id=site, environment_id=env, node_id=local.id)
    version = Environment.get_by_id(env).state_version
    claimed = queue.claim_next(core.rt, W1)
    row = Environment.get_by_id(env)
    assert row.status == "deploying" and row.state_version == version + 1
    queue.fail(core.rt, claimed, W1, "HEALTH_CHECK_FAILED", "unhealthy")
    assert Environment.get_by_id(env).status == "failed"


def test_cancel_queued_and_running_jobs(core, token, nodes, deploy_type):
    local, other = nodes
    site, env = make_site(core, token, "alpha")
    running = noop(core, job_type="env_deploy", site_id=site, environment_id=env,
                   node_id=local.id)
    queued = noop(core, node_id=other.id, sleep=1)
    queue.claim_next(core.rt, W1)
    core.jobs.cancel(token, queued.id[:8])
    core.jobs.cancel(token, running.id)
    assert Job.get_by_id(queued.id).status == "cancelled"
    assert Job.get_by_id(running.id).status == "cancelled"
    assert Environment.get_by_id(env).status == "failed"  # it was mid-mutation
    with pytest.raises(StateError, match="only queued or running"):
        core.jobs.cancel(token, running.id)
    assert not queue.succeed(core.rt, queue_record(running.id), W1)
    actions = [(a.action, a.result.split(":")[0]) for a in core.audit.list(token)]
    assert actions.count(("job.cancel", "ok")) == 2
    assert ("job.cancel", "refused") in actions
