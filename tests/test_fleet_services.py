"""Moves, old copies and decommissioning at the service layer (issue 14): what is refused
before any job exists, and what is queued. The moves themselves run on real nodes in
tests/fleet/."""

from __future__ import annotations

import json

import pytest

from pressluft_core.app import Pressluft
from pressluft_core.concurrency import update_versioned
from pressluft_core.errors import StateError, ValidationError
from pressluft_core.models import Environment, Job, Node, Release
from pressluft_core.records import NodeRecord


def _active(core: Pressluft, node: NodeRecord) -> None:
    row = Node.get_by_id(node.id)
    update_versioned(Node, row.id, row.state_version, core.rt.clock, status="active")


@pytest.fixture
def two_nodes(core: Pressluft, token: str, local_node: NodeRecord) -> tuple[str, str]:
    other = core.nodes.register(token, "second", "10.203.1.9", public_ip="203.0.113.9")
    _active(core, local_node)
    _active(core, other)
    return local_node.id, other.id


def _live_site(core: Pressluft, token: str, slug: str = "shop") -> Environment:
    """A site whose production environment is active with a release, jobs finished."""
    core.sites.create(token, "Shop", slug)
    env = Environment.get(Environment.slug == "production")
    Job.update(status="succeeded").execute()
    Release.insert(id=env.id, environment_id=env.id, source_type="upload", source_ref="core",
                   path="/var/www/sites/x/y/releases/r1", health_status="healthy",
                   created_at=core.rt.now()).execute()
    update_versioned(Environment, env.id, env.state_version, core.rt.clock,
                     status="active", current_release_id=env.id)
    return Environment.get_by_id(env.id)


def test_moving_production_needs_its_slug_typed(core, token, two_nodes) -> None:
    env = _live_site(core, token)
    with pytest.raises(ValidationError) as refused:
        core.moves.move(token, "shop", "production", to="second")
    assert refused.value.field == "confirm"
    assert not Job.select().where(Job.job_type == "env_move").exists()
    job = core.moves.move(token, "shop", "production", to="second", confirm="production")
    assert (job.job_type, job.node_id, job.environment_id) == ("env_move", two_nodes[1],
                                                                 env.id)
    assert json.loads(Job.get_by_id(job.id).payload_json) == {"from_node_id": two_nodes[0]}


def test_a_move_is_refused_naming_what_is_wrong(core, token, two_nodes) -> None:
    _live_site(core, token)
    with pytest.raises(ValidationError, match="already runs on node local"):
        core.moves.move(token, "shop", "production", to="local", confirm="production")
    second = Node.get_by_id(two_nodes[1])
    update_versioned(Node, second.id, second.state_version, core.rt.clock,
                     status="unreachable")
    with pytest.raises(ValidationError, match="second is unreachable"):
        core.moves.move(token, "shop", "production", to="second", confirm="production")
    with pytest.raises(Exception, match="no node 'nowhere'"):
        core.moves.move(token, "shop", "production", to="nowhere", confirm="production")
    assert not Job.select().where(Job.job_type == "env_move").exists()


def test_a_move_waits_for_the_environments_other_jobs(core, token, two_nodes) -> None:
    _live_site(core, token)
    core.environments.health(token, "shop", "production")
    with pytest.raises(StateError, match="queued or running jobs"):
        core.moves.move(token, "shop", "production", to="second", confirm="production")


def test_an_old_copy_blocks_a_second_move_and_decommission(core, token, two_nodes) -> None:
    env = _live_site(core, token)
    update_versioned(Environment, env.id, env.state_version, core.rt.clock,
                     previous_node_id=two_nodes[1])  # moved from second to local
    with pytest.raises(StateError, match="old copy on node second"):
        core.moves.move(token, "shop", "production", to="second", confirm="production")
    with pytest.raises(StateError, match=r"second still holds 1 environment\(s\)"):
        core.nodes.decommission(token, "second")
    job = core.moves.cleanup(token, "shop", "production")
    assert (job.job_type, job.node_id) == ("env_move_cleanup", two_nodes[1])


def test_decommission_refuses_while_environments_live_there(core, token, two_nodes) -> None:
    _live_site(core, token)
    with pytest.raises(StateError, match=r"the control plane's own node"):
        core.nodes.decommission(token, "local")
    other = core.nodes.register(token, "third", "10.203.1.10")
    _active(core, other)
    env = Environment.get(Environment.slug == "production")
    update_versioned(Environment, env.id, env.state_version, core.rt.clock,
                     node_id=other.id)
    with pytest.raises(StateError, match=r"still holds 1 environment\(s\) \(shop/production\)"):
        core.nodes.decommission(token, "third")
    assert Node.get_by_id(other.id).status == "active"
    node = core.nodes.decommission(token, "second")
    assert node.status == "decommissioned"
    with pytest.raises(StateError, match="already decommissioned"):
        core.nodes.decommission(token, "second")
    with pytest.raises(ValidationError, match="decommissioned"):
        core.moves.move(token, "shop", "production", to="second", confirm="production")


def test_a_job_queued_before_a_move_does_not_run_on_the_old_node(core, token,
                                                                  two_nodes) -> None:
    from pressluft_core.jobs.context import JobContext
    from pressluft_core.jobs.errors import JobFailure
    from pressluft_core.jobs.handlers.envctl import environment
    from pressluft_core.jobs.logs import Redactor
    from pressluft_core.records import JobRecord, from_row

    env = _live_site(core, token)
    job = from_row(JobRecord, Job.get_by_id(core.environments.health(
        token, "shop", "production").id))
    update_versioned(Environment, env.id, env.state_version, core.rt.clock,
                     node_id=two_nodes[1])
    ctx = JobContext(core.rt, job, log=None, redactor=Redactor(), pool=None)  # type: ignore[arg-type]
    with pytest.raises(JobFailure, match="moved to node second after this job was queued"):
        environment(ctx)
    assert environment(ctx.on_node(two_nodes[1])).id == env.id


def test_clone_onto_another_node_is_queued_there(core, token, two_nodes) -> None:
    _live_site(core, token)
    job = core.environments.clone(token, "shop", "production", "Staging", "staging",
                                  node="second")
    env = Environment.get_by_id(job.environment_id)
    assert (job.node_id, env.node_id) == (two_nodes[1], two_nodes[1])
    assert "203-0-113-9" in env.preview_url


def test_an_environment_with_custom_domains_is_not_moved(core, token, two_nodes) -> None:
    from pressluft_core.models import Domain

    env = _live_site(core, token)
    Domain.insert(id="d1", environment_id=env.id, hostname="shop.example.com",
                  tls_status="active", tls_issuer="acme", created_at=core.rt.now(),
                  updated_at=core.rt.now()).execute()
    with pytest.raises(StateError, match=r"custom domains \(shop.example.com\)"):
        core.moves.move(token, "shop", "production", to="second", confirm="production")


@pytest.mark.parametrize(("attempt", "code", "removed"), [
    (1, "STEP_RETRYABLE", False),  # tried again: the next attempt reuses the copy
    (3, "STEP_RETRYABLE", True),   # the last attempt: nothing may stay behind
    (1, "COMMAND_FAILED", True),   # never retried
])
def test_a_move_that_gives_up_takes_its_copy_off_the_target(
        core, token, two_nodes, monkeypatch, attempt, code, removed) -> None:
    import asyncio

    from pressluft_core.jobs.context import JobContext
    from pressluft_core.jobs.errors import JobFailure
    from pressluft_core.jobs.handlers import env_move
    from pressluft_core.jobs.logs import Redactor
    from pressluft_core.records import JobRecord, from_row

    _live_site(core, token)
    queued = core.moves.move(token, "shop", "production", to="second", confirm="production")
    Job.update(attempt_count=attempt).where(Job.id == queued.id).execute()
    job = from_row(JobRecord, Job.get_by_id(queued.id))
    calls: list[tuple[str, str]] = []

    async def envctl(ctx, command, data, **_kw):  # type: ignore[no-untyped-def]
        calls.append((command, ctx.job.node_id))
        return {}

    async def failing(ctx) -> None:  # type: ignore[no-untyped-def]
        raise JobFailure(code, "the node-side command failed")

    class Log:
        def write(self, tag: str, text: str) -> None:
            pass

    monkeypatch.setattr(env_move.common, "envctl", envctl)
    ctx = JobContext(core.rt, job, log=Log(), redactor=Redactor(), pool=None)  # type: ignore[arg-type]
    with pytest.raises(JobFailure):
        asyncio.run(env_move._tidy_when_giving_up(failing)(ctx))
    assert calls == ([("remove", two_nodes[1])] if removed else [])
