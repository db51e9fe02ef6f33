"""One Pressluft installation driving two bare nodes of its own (bookworm and trixie),
through its services as the console does; and what the tests read off the nodes to
judge it (HTTP over the node's own address, table checksums, upload digests)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pressluft_core.app import Pressluft
from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.jobs.worker import Worker
from pressluft_core.models import Environment, Job
from pressluft_core.remote.keys import public_key_line
from tests.fleet.fleet import Fleet, serve_files
from tests.fleet.nspawn import NspawnNode
from tests.jobs.helpers import FAST
from tests.jobs.test_remote_jobs import log_text, run_job

WP_SOURCE = Path("/opt/pressluft-test/wordpress")
ADMIN = ("fleet@example.com", "Fleet Admin", "correct horse battery staple")
NODE_NAMES = {"bookworm": "deb12", "trixie": "deb13"}
# wp_options rows WordPress rewrites on its own when a page is served (WP-Cron, transients):
# left out of the options comparison, because the source keeps serving during a move.
OPTIONS_NOISE = ("\\_transient\\_%", "\\_site\\_transient\\_%", "cron")


@dataclass
class World:
    core: Pressluft
    token: str
    nodes: dict[str, NspawnNode]  # by suite

    def node_of(self, env: Environment) -> NspawnNode:
        name = self.core.nodes.get(self.token, env.node_id).name
        return next(n for suite, n in self.nodes.items() if NODE_NAMES[suite] == name)

    def run(self, job_id: str) -> Job:
        return run_job(self.core, job_id)

    def run_all(self) -> None:
        """Every queued job, several at once (one per node at most, as the queue rules)."""
        asyncio.run(Worker(self.core.rt, FAST).run(until_empty=True))

    def log(self, job_id: str) -> str:
        return log_text(self.core, job_id)

    def env(self, site: str, env: str = "production") -> Environment:
        return Environment.get_by_id(self.core.environments.get(self.token, site, env).id)


def world_fixture(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not (WP_SOURCE / "wp-settings.php").is_file():
        pytest.skip(f"no WordPress files at {WP_SOURCE} (scripts/test installs them)")
    nodes = dict(zip(("bookworm", "trixie"), fleet.boot("bookworm", "trixie"), strict=True))
    home = tmp_path_factory.mktemp("fleet-home")
    core = Pressluft.open(home)
    try:
        core.auth.create_admin(*ADMIN)
        token, _ = core.auth.login(ADMIN[0], ADMIN[2])
        key = public_key_line(core.rt.secrets)  # made on first use, as `node key` does
        for node in nodes.values():
            node.authorize(key)
        # The nodes fetch WordPress over HTTP, as they would the official tarball.
        served = tmp_path_factory.mktemp("wp-download")
        subprocess.run(["tar", "-czhf", str(served / "wordpress.tar.gz"), "-C",
                        str(WP_SOURCE.parent), WP_SOURCE.name], check=True)
        core.settings.set(token, "wordpress_source", serve_files(served) + "/wordpress.tar.gz")
        for suite, node in nodes.items():
            core.nodes.register(token, NODE_NAMES[suite], node.address, public_ip=node.address)
        yield World(core, token, nodes)
    finally:
        core.close()
        for node in nodes.values():
            fleet.destroy(node)


def http_get(address: str, url: str, path: str = "/") -> tuple[int, bytes]:
    """GET ``url`` + ``path`` from the nginx at ``address`` (the URL's host in the Host
    header, as DNS pointing there would send it): (status, body); 0 when nginx closed
    without answering (444)."""
    host = url.split("://", 1)[1].split("/", 1)[0]
    with socket.create_connection((address, 80), timeout=30) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return 0, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def mysql(node: NspawnNode, sql: str, database: str) -> str:
    return node.exec(["mariadb", "--batch", "--raw", "--skip-column-names", database],
                     input=sql).stdout


def table_checksums(node: NspawnNode, env: Environment) -> dict[str, str]:
    """``CHECKSUM TABLE`` of every table of the environment's database; the options table
    by a digest of its rows in key order, without WordPress's own noise rows."""
    database = node_names(env.id)
    tables = sorted(mysql(node, "SHOW TABLES", database).split())
    sums = {}
    for line in mysql(node, "CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables
                                                          if not t.endswith("_options")),
                      database).splitlines():
        name, value = line.split("\t")
        sums[name.split(".", 1)[1]] = value
    noise = " AND ".join(f"option_name NOT LIKE '{n}'" for n in OPTIONS_NOISE)
    rows = mysql(node, "SELECT option_name, option_value, autoload FROM wp_options WHERE "
                 f"{noise} ORDER BY option_name", database)
    sums["wp_options"] = hashlib.sha256(rows.encode()).hexdigest()
    return sums


def uploads_digest(node: NspawnNode, env: Environment) -> dict[str, str]:
    """sha256 of every upload, by path relative to the uploads directory."""
    sites_root = "/var/www/sites"
    uploads = f"{sites_root}/{env.site_id}/{env.id}/shared/uploads"
    out = node.exec(["sh", "-c", 'cd "$1" && find . -type f -print0 | sort -z | '
                     "xargs -0 -r sha256sum", "digest", uploads]).stdout
    return {line[66:]: line[:64] for line in out.splitlines()}


def fill_uploads(node: NspawnNode, env: Environment, files: int, size_kb: int,
                 big_mb: int = 0) -> None:
    """Random uploads (incompressible) laid out as WordPress does, owned by the
    environment's user; ``big_mb``: one large file more (a video)."""
    user = node_names(env.id)
    uploads = f"/var/www/sites/{env.site_id}/{env.id}/shared/uploads/2026/03"
    script = ('set -e; install -d -o "$1" -g "$1" "$2"; i=0; '
              'while [ $i -lt "$3" ]; do head -c "$4"K /dev/urandom > "$2/photo-$i.jpg"; '
              'i=$((i+1)); done; '
              'if [ "$5" -gt 0 ]; then head -c "$5"M /dev/urandom > "$2/video.mp4"; fi; '
              'chown -R "$1:$1" "$2"')
    node.exec(["sh", "-c", script, "fill", user, uploads, str(files), str(size_kb),
               str(big_mb)])


def add_shop_rows(node: NspawnNode, env: Environment, orders: int) -> None:
    """A plugin's table with orders, serialized and multibyte values, as a shop has."""
    rows = ", ".join(f"({i}, 'a:1:{{s:5:\"total\";s:5:\"{i % 1000:05d}\";}}', 'Müller ✓ #{i}')"
                     for i in range(1, orders + 1))
    mysql(node, "CREATE TABLE wp_shop_orders (id BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT, "
                "meta LONGTEXT NOT NULL, customer VARCHAR(100) NOT NULL) "
                "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci; "
                f"INSERT INTO wp_shop_orders VALUES {rows};", node_names(env.id))
