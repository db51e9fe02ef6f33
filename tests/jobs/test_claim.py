"""Batched claims (``pressluft_core/jobs/claim.py``) on SQLite and PostgreSQL: one claim
starts several jobs but never two of one site or one node, racing workers never start one
job twice, and the database itself refuses a second running job on a site or node."""

from __future__ import annotations

import threading
from collections import Counter

import peewee
import pytest

from pressluft_core.jobs import queue
from pressluft_core.jobs.claim import claim
from pressluft_core.jobs.registry import REGISTRY, JobType
from pressluft_core.models import Environment, Job, Site
from tests.jobs.helpers import make_site, noop

W1, W2 = "host-a:1", "host-b:2"


@pytest.fixture
def nodes(core, token, local_node):
    names = ("web-2", "web-3")
    return [local_node] + [core.nodes.register(token, name, f"{name}.example.com",
                                               public_ip=f"192.0.2.{n + 2}")
                           for n, name in enumerate(names)]


def test_one_claim_starts_the_oldest_job_of_each_free_node_and_site(core, token, nodes,
                                                                    caplog):
    one, two, three = nodes
    alpha, _ = make_site(core, token, "alpha")
    beta, _ = make_site(core, token, "beta", node="web-2")
    gamma, _ = make_site(core, token, "gamma", node="web-3")
    first = noop(core, site_id=alpha, node_id=one.id)
    same_node = noop(core, site_id=beta, node_id=one.id)  # waits for node one
    behind_alpha = noop(core, site_id=alpha, node_id=two.id)  # waits for alpha's first
    on_two = noop(core, site_id=beta, node_id=two.id)  # beta's oldest is same_node
    on_three = noop(core, site_id=gamma, node_id=three.id)
    global_job = noop(core, job_type="backup_cleanup")
    global_too = noop(core, job_type="backup_cleanup")

    started = claim(core.rt, W1, 8)
    assert [c.job.id for c in started] == [first.id, on_three.id, global_job.id,
                                           global_too.id]
    assert {c.job.status for c in started} == {"running"}
    assert all(c.job.locked_by == W1 and c.job.attempt_count == 1 for c in started)
    assert started[0].job.progress == "step 1/3: prepare"
    assert claim(core.rt, W2, 8) == []  # everything else waits for a site or node

    queue.succeed(core.rt, started[0].job, W1)
    # node one and site alpha are free: beta's oldest (same_node) starts, and then
    # behind_alpha could too, but it is on node two, free as well.
    assert {c.job.id for c in claim(core.rt, W2, 8)} == {same_node.id, behind_alpha.id}
    assert Job.get_by_id(on_two.id).status == "queued"
    assert "lost the race" not in caplog.text  # no claim ran into the unique indexes


def test_a_claim_takes_no_more_than_its_limit(core, token, nodes):
    sites = [make_site(core, token, slug, node=node.name)[0]
             for slug, node in zip(("alpha", "beta", "gamma"), nodes, strict=True)]
    jobs = [noop(core, site_id=site, node_id=node.id)
            for site, node in zip(sites, nodes, strict=True)]
    assert [c.job.id for c in claim(core.rt, W1, 2)] == [jobs[0].id, jobs[1].id]
    assert [c.job.id for c in claim(core.rt, W1, 2)] == [jobs[2].id]
    assert claim(core.rt, W1, 0) == []


def test_a_batched_claim_moves_every_environment_and_site(core, token, nodes, monkeypatch):
    monkeypatch.setitem(REGISTRY, "env_deploy", JobType(
        name="env_deploy", steps=(), running_status="deploying"))
    monkeypatch.setitem(REGISTRY, "site_import", JobType(
        name="site_import", steps=(), running_status="deploying", moves_site=True))
    alpha, alpha_env = make_site(core, token, "alpha")
    beta, beta_env = make_site(core, token, "beta", node="web-2")
    noop(core, job_type="env_deploy", site_id=alpha, environment_id=alpha_env,
         node_id=nodes[0].id)
    noop(core, job_type="site_import", site_id=beta, environment_id=beta_env,
         node_id=nodes[1].id)
    Site.update(status="active").execute()  # make_site leaves site_create's status
    versions = {env: Environment.get_by_id(env).state_version for env in (alpha_env, beta_env)}

    assert len(claim(core.rt, W1, 4)) == 2
    for env in (alpha_env, beta_env):
        row = Environment.get_by_id(env)
        assert (row.status, row.state_version) == ("deploying", versions[env] + 1)
    assert Site.get_by_id(alpha).status == "active"  # env_deploy leaves the site alone
    assert Site.get_by_id(beta).status == "deploying"


def test_the_database_refuses_a_second_running_job_on_a_site_or_node(core, token, nodes):
    """Migration 13: the claim rules hold even against a buggy or foreign writer."""
    alpha, _ = make_site(core, token, "alpha")
    beta, _ = make_site(core, token, "beta", node="web-2")
    running = queue.claim_next(core.rt, W1, noop(core, site_id=alpha, node_id=nodes[0].id).id)
    same_node = noop(core, site_id=beta, node_id=nodes[0].id)
    same_site = noop(core, site_id=alpha, node_id=nodes[1].id)
    assert running is not None
    for job in (same_node, same_site):
        with pytest.raises(peewee.IntegrityError), core.db.atomic():
            Job.update(status="running").where(Job.id == job.id).execute()


def test_racing_workers_start_each_job_once_and_one_per_site_and_node(core, token, nodes,
                                                                       caplog):
    """Four threads (each its own connection) claim at the same moment, each round, while
    the others' jobs still run; then all finish what they got. Every job starts once, and
    the running jobs are one per site and per node after every round."""
    sites = [make_site(core, token, f"site-{n}", node=nodes[n % 3].name)[0] for n in range(9)]
    for n in range(60):
        noop(core, site_id=sites[n % 9], node_id=nodes[(n // 9) % 3].id)
    starts: Counter[str] = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    workers = 4
    claimed_all, checked = threading.Barrier(workers), threading.Barrier(workers)

    def work(worker_id: str) -> None:
        try:
            for _ in range(40):
                started = claim(core.rt, worker_id, 2)
                with lock:
                    starts.update(c.job.id for c in started)
                claimed_all.wait(30)
                problems.extend(_doubled(core))
                checked.wait(30)
                for item in started:
                    assert queue.succeed(core.rt, item.job, worker_id)
        except Exception as exc:  # reported by the assertion below
            problems.append(repr(exc))
            claimed_all.abort()
            checked.abort()
        finally:
            core.db.close()

    threads = [threading.Thread(target=work, args=(f"w{n}:1",)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert problems == []
    assert len(starts) == 60 and set(starts.values()) == {1}
    assert Job.select().where(Job.status != "succeeded").count() == 0
    assert "lost the race" not in caplog.text


def _doubled(core) -> list[str]:
    rows = core.db.execute_sql(
        "SELECT 'site ' || site_id FROM jobs WHERE status = 'running' AND site_id IS NOT NULL "
        "GROUP BY site_id HAVING COUNT(*) > 1 UNION ALL "
        "SELECT 'node ' || node_id FROM jobs WHERE status = 'running' AND node_id IS NOT NULL "
        "GROUP BY node_id HAVING COUNT(*) > 1").fetchall()
    return [f"two running jobs on {row[0]}" for row in rows]


def test_enqueue_returns_exactly_the_row_it_wrote(core, token, nodes):
    """enqueue builds its record from the values it inserted instead of reading it back."""
    from pressluft_core.records import JobRecord, from_row

    alpha, env = make_site(core, token, "alpha")
    for job in (noop(core, site_id=alpha, environment_id=env, node_id=nodes[0].id, lines=2),
                noop(core, job_type="backup_cleanup")):
        assert job == from_row(JobRecord, Job.get_by_id(job.id))
    seqs = [row.queue_seq for row in Job.select().order_by(Job.queue_seq)]
    assert len(set(seqs)) == len(seqs) and None not in seqs
