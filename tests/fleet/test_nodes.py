"""The test nodes themselves: real, bare, distinct Debian hosts that the host reaches over
SSH, that reach each other and the host's apt proxy, and that survive a stop or a crash
with their disk. Later node tests (provisioning, vanishing nodes) rely on each of these."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from pathlib import Path

import pytest

from tests.fleet.fleet import Fleet, serve_files
from tests.fleet.nspawn import NodeError, NspawnNode

SUITES = ("bookworm", "trixie")


def ssh(key: Path, node: NspawnNode, command: str,
        known_hosts: Path | None = None) -> subprocess.CompletedProcess[str]:
    """OpenSSH as a control plane would use it: key only, no prompts."""
    pinned = ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"]
    trust_any = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
         "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
         *(pinned if known_hosts else trust_any), f"root@{node.address}", command],
        capture_output=True, text=True, timeout=60)


def banner_from(node: NspawnNode, address: str) -> str:
    """What a TCP connection from inside `node` to address:22 reads first."""
    code = ("import socket,sys; s=socket.create_connection((sys.argv[1], 22), 5); "
            "print(s.recv(64).decode().strip())")
    return node.exec(["python3", "-c", code, address]).stdout.strip()


@pytest.mark.parametrize("suite", SUITES)
def test_node_runs_systemd_as_pid_1_on_its_release(fleet: Fleet, suite: str) -> None:
    node = fleet.get(suite)
    assert node.exec(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    state = node.exec(["systemctl", "is-system-running"], check=False).stdout.strip()
    assert state in ("running", "degraded")
    os_release = node.exec(["cat", "/etc/os-release"]).stdout
    assert f"VERSION_CODENAME={suite}" in os_release.splitlines()
    assert node.exec(["hostname"]).stdout.strip() == node.name


@pytest.mark.parametrize("suite", SUITES)
def test_node_is_bare(fleet: Fleet, suite: str) -> None:
    node = fleet.get(suite)
    for package in ("nginx", "php-fpm", "mariadb-server", "mysql-server"):
        assert node.exec(["dpkg-query", "-W", package], check=False).returncode != 0, package
    assert node.exec(["dpkg-query", "-W", "openssh-server"]).returncode == 0


def test_nodes_are_distinct_hosts(fleet: Fleet) -> None:
    nodes = [fleet.get(suite) for suite in SUITES]
    machine_ids = {node.exec(["cat", "/etc/machine-id"]).stdout.strip() for node in nodes}
    host_keys = {node.host_key() for node in nodes}
    base_keys = {(fleet.config.bases / s / "etc/ssh/ssh_host_ed25519_key.pub").read_text()
                 .split()[1] for s in SUITES}
    assert len(machine_ids) == 2 and all(len(m) == 32 for m in machine_ids)
    assert len(host_keys) == 2
    assert not {key.split()[1] for key in host_keys} & base_keys
    assert len({node.address for node in nodes}) == 2


@pytest.mark.parametrize("suite", SUITES)
def test_root_logs_in_over_ssh_with_an_authorized_key(fleet: Fleet, suite: str,
                                                      tmp_path: Path) -> None:
    node = fleet.get(suite)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    assert ssh(key, node, "true").returncode != 0  # not authorized yet
    node.authorize(key.with_suffix(".pub").read_text())
    done = ssh(key, node, "true")
    assert done.returncode == 0, done.stderr
    mode = node.exec(["stat", "-c", "%a", "/root/.ssh", "/root/.ssh/authorized_keys"])
    assert mode.stdout.split() == ["700", "600"]


@pytest.mark.parametrize("suite", SUITES)
def test_apt_update_through_the_hosts_proxy(fleet: Fleet, suite: str) -> None:
    node = fleet.get(suite)
    done = node.exec(["apt-get", "update"], timeout=300)
    assert fleet.config.mirror in done.stdout
    assert f"{suite}-security" in done.stdout
    assert "Err:" not in done.stdout and "W:" not in done.stderr, done.stdout + done.stderr
    policy = node.exec(["apt-cache", "policy", "nginx"]).stdout
    assert "Candidate: (none)" not in policy and fleet.config.mirror in policy


def test_nodes_reach_each_other_over_the_bridge(fleet: Fleet) -> None:
    bookworm, trixie = fleet.get("bookworm"), fleet.get("trixie")
    assert banner_from(bookworm, trixie.address).startswith("SSH-2.0-OpenSSH_")
    assert banner_from(trixie, bookworm.address).startswith("SSH-2.0-OpenSSH_")


def test_node_downloads_from_a_file_server_on_the_host(fleet: Fleet, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4096
    (tmp_path / "latest.tar.gz").write_bytes(payload)
    url = serve_files(tmp_path) + "/latest.tar.gz"
    code = ("import hashlib,sys,urllib.request; "
            "print(hashlib.sha256(urllib.request.urlopen(sys.argv[1]).read()).hexdigest())")
    node = fleet.get("trixie")
    assert node.exec(["python3", "-c", code, url]).stdout.strip() == \
        hashlib.sha256(payload).hexdigest()


def test_a_node_that_stops_or_vanishes_comes_back_with_its_disk(fleet: Fleet,
                                                                 fleet_key: Path,
                                                                 tmp_path: Path) -> None:
    node = fleet.node("bookworm")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{node.address} {node.host_key()}\n")
    machine_id = node.exec(["cat", "/etc/machine-id"]).stdout
    node.exec(["sh", "-c", "echo kept > /root/marker"])

    node.stop()
    assert not node.is_running()
    with pytest.raises(NodeError):
        node.wait_ssh(timeout=1)
    node.boot()
    assert ssh(fleet_key, node, "cat /root/marker", known_hosts).stdout == "kept\n"
    assert node.exec(["cat", "/etc/machine-id"]).stdout == machine_id

    node.kill()
    with pytest.raises(OSError):
        socket.create_connection((node.address, 22), timeout=1).close()
    node.boot()
    done = ssh(fleet_key, node, "cat /root/marker; systemctl is-system-running", known_hosts)
    assert done.stdout.split()[0] == "kept", done.stderr

    fleet.destroy(node)
    assert not node.dir.exists()
