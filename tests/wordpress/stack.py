"""One Pressluft installation driving this machine's real stack (sshd, nginx, PHP-FPM,
MariaDB) through its services, exactly as the console does; shared by the end-to-end tests
of a module because provisioning and a WordPress install cost seconds each.

Environments land under a sites root of their own per run and are removed from the node
(users, pools, databases, nginx blocks) when the module ends.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pressluft_core.app import Pressluft
from pressluft_core.jobs.handlers.envctl import env_inputs
from pressluft_core.models import Environment, Job
from pressluft_core.node.bundle import command as node_command
from pressluft_core.remote.keys import ensure_control_key
from tests.jobs.test_remote_jobs import log_text, run_job
from tests.sshserver import REAL_SSHD_PORT, REAL_SSHD_USER, authorized_on_real_sshd

WP_SOURCE = os.environ.get("PRESSLUFT_TEST_WP_DIR", "/opt/pressluft-test/wordpress")
ADMIN = ("e2e@example.com", "E2E Admin", "correct horse battery staple")


@dataclass
class Stack:
    core: Pressluft
    token: str
    node_name: str
    sites_root: Path
    home: Path

    def run(self, job_id: str) -> Job:
        return run_job(self.core, job_id)

    def log(self, job_id: str) -> str:
        return log_text(self.core, job_id)

    def env(self, site: str, env: str) -> Environment:
        record = self.core.environments.get(self.token, site, env)
        return Environment.get_by_id(record.id)


def http_get(url: str, path: str = "/") -> tuple[int, bytes]:
    """GET ``url`` + ``path`` from nginx on 127.0.0.1:80 with the URL's host: (status, body);
    status 0 when nginx closed without answering."""
    host = url.split("://", 1)[1].split("/", 1)[0]
    with socket.create_connection(("127.0.0.1", 80), timeout=30) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return 0, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return int(head.split(b" ", 2)[1]), body


def dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)


def remove_from_node(env: Environment) -> None:
    """Undo an environment on this machine (the test's own cleanup, as root)."""
    subprocess.run([*node_command("envctl"), "remove"],
                   input=json.dumps(env_inputs(env)).encode(), capture_output=True,
                   check=False)


def mysql(sql: str, database: str | None = None) -> str:
    """Rows as tab-separated lines, values unescaped (``--raw``)."""
    argv = ["mariadb", "--batch", "--raw", "--skip-column-names"] + ([database] if database else [])
    return subprocess.run(argv, input=sql.encode(), capture_output=True, check=True
                          ).stdout.decode()


@pytest.fixture(scope="module", name="stack")
def stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (REAL_SSHD_PORT and REAL_SSHD_USER):
        pytest.skip("real sshd not started (scripts/test starts it)")
    if not Path(WP_SOURCE, "wp-settings.php").is_file():
        pytest.skip(f"no WordPress files at {WP_SOURCE} (scripts/test installs them)")
    home = tmp_path_factory.mktemp("e2e-home")
    core = Pressluft.open(home)
    sites_root = Path("/var/tmp/pressluft-e2e") / uuid.uuid4().hex[:8]
    try:
        core.auth.create_admin(*ADMIN)
        token, _ = core.auth.login(ADMIN[0], ADMIN[2])
        core.settings.set(token, "wordpress_source", WP_SOURCE)
        with authorized_on_real_sshd(ensure_control_key(core.rt.secrets)):
            core.nodes.register(token, "e2e-node", "127.0.0.1", ssh_port=int(REAL_SSHD_PORT),
                                ssh_user=REAL_SSHD_USER, public_ip="127.0.0.1")
            job = core.nodes.provision(token, "e2e-node", sites_root=str(sites_root))
            assert run_job(core, job.id).status == "succeeded", log_text(core, job.id)
            yield Stack(core, token, "e2e-node", sites_root, home)
    finally:
        for env in Environment.select():
            remove_from_node(env)
        subprocess.run(["rm", "-rf", str(sites_root)], check=False)
        core.close()
