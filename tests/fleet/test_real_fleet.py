"""The fleet end to end on real nodes (issue 14): bare bookworm and trixie hosts
provisioned through the services, a site on each, jobs on two nodes at once, a production
environment moved between them byte for byte, a node stopped in the middle of a move, a
clone onto another node, decommissioning, and the sentences SSH failures give.

The tests build on each other in file order (one installation, two nodes of its own)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pressluft_core.clock import to_iso
from pressluft_core.errors import StateError
from pressluft_core.models import Job, Node
from tests.fleet.fleet import Fleet
from tests.fleet.world import (
    World,
    add_shop_rows,
    fill_uploads,
    http_get,
    mysql,
    table_checksums,
    uploads_digest,
    world_fixture,
)

TITLES = {"bookworm": "Bookworm Shop", "trixie": "Trixie Blog"}
SLUGS = {"bookworm": "shop", "trixie": "blog"}


@pytest.fixture(scope="module")
def world(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(fleet, tmp_path_factory)


def _jobs_succeeded(world: World, job_ids: list[str]) -> None:
    for job_id in job_ids:
        row = Job.get_by_id(job_id)
        assert row.status == "succeeded", (row.error_code, row.error_message,
                                           world.log(job_id)[-3000:])


def test_bare_nodes_are_provisioned_and_each_serves_a_site(world: World) -> None:
    checks = [world.core.nodes.check(world.token, n).id for n in ("deb12", "deb13")]
    world.run_all()
    _jobs_succeeded(world, checks)
    bare = {n.name: n for n in world.core.nodes.list(world.token)}
    assert "12 (bookworm)" in bare["deb12"].os_release
    assert "13 (trixie)" in bare["deb13"].os_release
    assert (bare["deb12"].php_version, bare["deb13"].nginx_version) == (None, None)

    provisions = [world.core.nodes.provision(world.token, n).id for n in ("deb12", "deb13")]
    world.run_all()
    _jobs_succeeded(world, provisions)
    first, second = (Job.get_by_id(j) for j in provisions)
    assert first.started_at < second.finished_at and second.started_at < first.finished_at
    nodes = {n.name: n for n in world.core.nodes.list(world.token)}
    # whatever the release ships: PHP 8.2 / MariaDB 10.11 on 12, PHP 8.4 / 11.8 on 13
    assert re.fullmatch(r"8\.2\.\d+", nodes["deb12"].php_version)
    assert re.fullmatch(r"10\.11\.\d+", nodes["deb12"].mariadb_version)
    assert re.fullmatch(r"8\.4\.\d+", nodes["deb13"].php_version)
    assert re.fullmatch(r"11\.8\.\d+", nodes["deb13"].mariadb_version)
    assert all(n.nginx_version and n.status == "active" for n in nodes.values())
    for suite, node in world.nodes.items():
        php = nodes["deb12" if suite == "bookworm" else "deb13"].php_version.rsplit(".", 1)[0]
        states = node.exec(["systemctl", "is-active", "nginx", f"php{php}-fpm", "mariadb"])
        assert states.stdout.split() == ["active"] * 3, suite
        assert node.exec(["systemctl", "is-enabled", "nginx", f"php{php}-fpm",
                          "mariadb"]).stdout.split() == ["enabled"] * 3
        firewall = node.exec(["ufw", "status"]).stdout
        assert "Status: active" in firewall, firewall
        assert all(re.search(rf"^{port}/tcp +ALLOW", firewall, re.M) for port in (22, 80, 443))

    again = [world.core.nodes.provision(world.token, n).id for n in ("deb12", "deb13")]
    world.run_all()
    _jobs_succeeded(world, again)
    for job_id in again:
        assert "no changes" in world.log(job_id)

    sites = [world.core.sites.create(world.token, TITLES[suite], SLUGS[suite],
                                     node="deb12" if suite == "bookworm" else "deb13").id
             for suite in ("bookworm", "trixie")]
    world.run_all()
    _jobs_succeeded(world, sites)
    for suite, node in world.nodes.items():
        env = world.env(SLUGS[suite])
        status, body = http_get(node.address, env.preview_url)
        assert status == 200 and f"<title>{TITLES[suite]}".encode() in body, suite
        other = world.nodes["trixie" if suite == "bookworm" else "bookworm"]
        assert http_get(other.address, env.preview_url)[0] == 0  # 444: not served there


def test_jobs_on_two_nodes_overlap_and_on_one_node_never(world: World, tmp_path: Path
                                                         ) -> None:
    record = tmp_path / "record"
    nodes = {n.name: n.id for n in world.core.nodes.list(world.token)}
    jobs = [world.core.jobs.enqueue_diagnostic(
        world.token, "noop", node_id=nodes[name],
        payload={"command": ["sleep", "2"], "record": str(record)}).id
        for name in ("deb12", "deb12", "deb13")]
    world.run_all()
    _jobs_succeeded(world, jobs)
    spans = {job_id: (float(start), float(end)) for job_id, _pid, start, end in
             (line.split() for line in record.read_text().splitlines())}
    a1, a2, b = (spans[j] for j in jobs)
    assert a1[1] <= a2[0] or a2[1] <= a1[0], "two jobs ran on deb12 at once"
    assert any(b[0] < a[1] and a[0] < b[1] for a in (a1, a2)), "deb13 waited for deb12"


def test_production_moves_from_bookworm_to_trixie_byte_for_byte(world: World) -> None:
    old, new = world.nodes["bookworm"], world.nodes["trixie"]
    env = world.env("shop")
    fill_uploads(old, env, files=60, size_kb=200, big_mb=20)
    add_shop_rows(old, env, orders=5000)
    tables, uploads = table_checksums(old, env), uploads_digest(old, env)
    with pytest.raises(Exception, match="type the environment's slug"):
        world.core.moves.move(world.token, "shop", "production", to="deb13")
    job = world.core.moves.move(world.token, "shop", "production", to="deb13",
                                confirm="production")
    served: list[int] = []
    done = threading.Event()

    def keep_asking() -> None:  # the old node serves throughout, as DNS still points there
        while not done.is_set():
            served.append(http_get(old.address, env.preview_url)[0])
            time.sleep(0.2)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        row = world.run(job.id)
    finally:
        done.set()
        asker.join()
    assert row.status == "succeeded", (row.error_message, world.log(job.id)[-3000:])
    assert served and set(served) == {200}
    moved = world.env("shop")
    deb12, deb13 = (Node.get(Node.name == n).id for n in ("deb12", "deb13"))
    assert (moved.node_id, moved.previous_node_id) == (deb13, deb12)
    assert moved.preview_url == env.preview_url  # URLs unchanged
    assert table_checksums(new, moved) == tables
    assert uploads_digest(new, moved) == uploads and len(uploads) == 61
    status, body = http_get(new.address, moved.preview_url)
    assert status == 200 and b"<title>Bookworm Shop" in body
    assert http_get(old.address, env.preview_url)[0] == 200  # the old copy is kept
    assert f"point the A record of {moved.preview_url.split('//')[1]} at {new.address}" \
        in world.log(job.id)

    cleanup = world.core.moves.cleanup(world.token, "shop", "production")
    assert world.run(cleanup.id).status == "succeeded", world.log(cleanup.id)
    assert http_get(old.address, env.preview_url)[0] == 0
    assert "wp" + env.id.replace("-", "")[:12] not in mysql(old, "SHOW DATABASES", "mysql")
    assert world.env("shop").previous_node_id is None


def test_a_node_stopped_mid_move_fails_cleanly_and_the_retry_finishes(world: World) -> None:
    source, target = world.nodes["trixie"], world.nodes["bookworm"]
    env = world.env("blog")
    fill_uploads(source, env, files=20, size_kb=100, big_mb=400)
    tables, uploads = table_checksums(source, env), uploads_digest(source, env)
    job = world.core.moves.move(world.token, "blog", "production", to="deb12",
                                confirm="production")

    def stop_target_while_streaming() -> None:
        deadline = time.monotonic() + 120
        while "stream files and database" not in world.log(job.id):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)
        target.stop()

    stopper = threading.Thread(target=stop_target_while_streaming)
    stopper.start()
    first = world.run(job.id)
    stopper.join()
    assert (first.status, first.error_code) == ("queued", "CONNECTION_LOST"), (
        first.error_message, world.log(job.id)[-3000:])
    assert "node deb12" in first.error_message
    unchanged = world.env("blog")
    assert (unchanged.node_id, unchanged.current_release_id, unchanged.status) == (
        env.node_id, env.current_release_id, "active")
    assert http_get(source.address, env.preview_url)[0] == 200

    target.boot()
    target.wait_ssh()
    Job.update(run_after=to_iso(world.core.rt.clock.now())).where(Job.id == job.id).execute()
    second = world.run(job.id)  # the retry the queue would start a minute later
    assert (second.status, second.attempt_count) == ("succeeded", 2), (
        second.error_message, world.log(job.id)[-3000:])
    moved = world.env("blog")
    assert table_checksums(target, moved) == tables
    assert uploads_digest(target, moved) == uploads
    status, body = http_get(target.address, moved.preview_url)
    assert status == 200 and b"<title>Trixie Blog" in body


def test_clone_onto_another_node_rewrites_urls_and_keeps_the_source(world: World) -> None:
    source_node, other = world.nodes["trixie"], world.nodes["bookworm"]
    prod = world.env("shop")  # on deb13 since the move
    job = world.core.environments.clone(world.token, "shop", "production", "Far staging",
                                        "far", node="deb12")
    assert world.run(job.id).status == "succeeded", world.log(job.id)[-3000:]
    far = world.env("shop", "far")
    status, body = http_get(other.address, far.preview_url)
    assert status == 200 and b"<title>Bookworm Shop" in body
    old_host = prod.preview_url.split("//")[1].encode()
    dump = other.exec(["mysqldump", "wp" + far.id.replace("-", "")[:12]]).stdout.encode()
    assert old_host not in dump and far.preview_url.split("//")[1].encode() in dump
    assert mysql(other, "SELECT option_value FROM wp_options WHERE option_name = "
                 "'blog_public'", "wp" + far.id.replace("-", "")[:12]).strip() == "0"
    assert uploads_digest(other, far) == uploads_digest(source_node, prod)
    assert http_get(source_node.address, prod.preview_url)[0] == 200


def test_decommission_waits_until_the_node_is_empty(world: World) -> None:
    """deb12 holds blog (moved there) and the far clone; deb13 holds shop and the copy
    blog left behind. Neither can go; a node holding nothing can."""
    with pytest.raises(StateError, match=r"deb12 still holds 2 environment\(s\) "
                                         r"\(blog/production, shop/far\)"):
        world.core.nodes.decommission(world.token, "deb12")
    with pytest.raises(StateError, match=r"deb13 still holds 2 environment\(s\)"):
        world.core.nodes.decommission(world.token, "deb13")
    assert {n.status for n in world.core.nodes.list(world.token)} == {"active"}


def test_ssh_failures_give_the_operator_a_sentence(world: World) -> None:
    node = world.nodes["trixie"]
    world.core.nodes.register(world.token, "ghost", "10.203.1.250")
    world.core.nodes.register(world.token, "wrong-user", node.address, ssh_user="nobody")
    ghost = world.run(world.core.nodes.check(world.token, "ghost").id)
    assert ghost.error_code == "NODE_UNREACHABLE"
    assert "node ghost (10.203.1.250:22)" in ghost.error_message
    assert "check that the node is up" in ghost.error_message
    wrong = world.run(world.core.nodes.check(world.token, "wrong-user").id)
    assert wrong.error_code == "SSH_AUTH_FAILED"
    assert "refused the control plane's SSH key for user 'nobody'" in wrong.error_message
    assert "`pressluft node key`" in wrong.error_message

    node.exec(["sh", "-c", "rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; "
                           "systemctl restart ssh"])
    node.wait_ssh()
    changed = world.run(world.core.nodes.check(world.token, "deb13").id)
    assert changed.error_code == "HOST_KEY_CHANGED" and "SHA256:" in changed.error_message
    assert "node deb13" in changed.error_message and "forget-host-key" in changed.error_message
    assert Node.get(Node.name == "deb13").status == "unreachable"
    world.core.nodes.forget_host_key(world.token, "deb13")
    again = world.run(world.core.nodes.check(world.token, "deb13").id)
    assert again.status == "succeeded"
    assert world.core.nodes.decommission(world.token, "ghost").status == "decommissioned"
