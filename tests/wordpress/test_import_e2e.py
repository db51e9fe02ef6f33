"""Site import end to end on the real stack (issue 8): an archive made by Pressluft's own
backup of another site, served over HTTP, becomes a new site under its own URL; hostile
archives are refused with a clear reason before the node changes."""

from __future__ import annotations

import functools
import http.server
import io
import json
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pressluft_core.jobs.handlers.envctl import env_inputs, node_names
from pressluft_core.models import Environment
from pressluft_core.node.bundle import command as node_command
from tests.wordpress.stack import Stack, http_get, mysql


@pytest.fixture(scope="module")
def origin_archive(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    job = stack.core.sites.create(stack.token, "Origin", "origin", node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("origin", "production")
    mysql("UPDATE wp_options SET option_value = 'Imported Origin Blog' WHERE option_name = "
          "'blogname'", node_names(env.id))
    archive = tmp_path_factory.mktemp("import") / "origin.tar.zst"
    with open(archive, "wb") as out:
        done = subprocess.run(
            [*node_command("envctl"), "backup-stream",
             json.dumps({**env_inputs(env), "scope": "full", "backup_id": "e2e"})],
            stdout=out, stderr=subprocess.PIPE, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return archive


@pytest.fixture
def served(origin_archive: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(origin_archive.parent))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{origin_archive.name}"
    finally:
        server.shutdown()


def test_a_pressluft_backup_imports_from_a_url_under_the_new_sites_url(
        stack: Stack, served: str) -> None:
    job = stack.core.sites.import_site(stack.token, "Copy", "copy", served,
                                       node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    copy = stack.env("copy", "production")
    origin = stack.env("origin", "production")
    status, body = http_get(copy.preview_url)
    assert status == 200 and b"Imported Origin Blog" in body
    dump = subprocess.run(["mysqldump", node_names(copy.id)], capture_output=True,
                          check=True).stdout
    assert origin.preview_url.split("://")[1].encode() not in dump
    assert not (Path("/var/tmp/pressluft-import") / job.id[:8]).exists()


def tar_gz(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


DUMP = b"CREATE TABLE `wp_options` (option_id int);\nINSERT INTO `wp_options` VALUES " \
       b"(1,'siteurl','http://old.example','yes');\n"


@pytest.mark.parametrize(("name", "members", "why"), [
    ("traversal", [(member("db.sql"), DUMP), (member("files/../../../tmp/evil.php"), b"x")],
     "outside"),
    ("symlink", [(member("db.sql"), DUMP), (member("files/etc", tarfile.SYMTYPE, "/etc"), b"")],
     "links outside"),
    ("no-db", [(member("files/readme.txt"), b"hello")], "no db.sql"),
    ("shell", [(member("db.sql"), DUMP + b"\\! touch /tmp/pressluft-pwned\n")],
     "client command"),
])
def test_hostile_archives_are_refused_and_the_node_is_unchanged(
        stack: Stack, tmp_path: Path, name: str, members: list, why: str) -> None:
    archive = tar_gz(tmp_path / f"{name}.tar.gz", *members)
    users = subprocess.run(["getent", "passwd"], capture_output=True).stdout
    job = stack.core.sites.import_site(stack.token, f"Bad {name}", f"bad-{name}",
                                       str(archive), node=stack.node_name)
    failed = stack.run(job.id)
    assert failed.status == "failed" and failed.error_code == "INVALID_PAYLOAD"
    assert why in stack.log(job.id)
    assert subprocess.run(["getent", "passwd"], capture_output=True).stdout == users
    env = Environment.get_by_id(job.environment_id)
    assert not (stack.sites_root / env.site_id).exists()
    assert not (Path("/var/tmp/pressluft-import") / job.id[:8]).exists()
    assert not Path("/tmp/pressluft-pwned").exists() and not Path("/tmp/evil.php").exists()
