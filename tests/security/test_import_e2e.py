"""Hostile dumps and archives against the real stack (issue 18): each is refused with a clear
reason before the node changes, or imported with its effect confined to its own
environment; afterwards every other environment's tables and files, MariaDB's accounts and
/tmp are as they were."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pressluft_core.jobs.handlers.envctl import (
    db_password_secret,
    env_inputs,
    node_names,
)
from pressluft_core.models import Environment
from pressluft_core.node.bundle import command as node_command
from tests.security.corpus import OPTIONS, archive, checksums, member, node_state, unchanged
from tests.wordpress.stack import Stack, http_get, mysql

ENVCTL = node_command("envctl")


@pytest.fixture(scope="module")
def victim(stack: Stack) -> Environment:
    """The other client's site on the same node, which no import may touch."""
    job = stack.core.sites.create(stack.token, "Victim Shop", "victim", node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    return stack.env("victim", "production")


def import_fails(stack: Stack, path: Path, slug: str) -> str:
    job = stack.core.sites.import_site(stack.token, f"Bad {slug}", slug, str(path),
                                       node=stack.node_name)
    failed = stack.run(job.id)
    log = stack.log(job.id)
    assert failed.status == "failed" and failed.error_code == "INVALID_PAYLOAD", log
    env = Environment.get_by_id(job.environment_id)
    assert not (stack.sites_root / env.site_id).exists()
    assert not (Path("/var/tmp/pressluft-import") / job.id[:8]).exists()
    return log


def test_a_dump_reaching_for_another_database_is_refused_before_anything_changes(
        stack: Stack, victim: Environment, tmp_path: Path) -> None:
    other = node_names(victim.id).encode()
    dump = (b"USE `" + other + b"`;\nDROP TABLE `wp_posts`;\n" + OPTIONS
            + b"CREATE USER 'pwned'@'%' IDENTIFIED BY 'pwned-password';\n"
            + b"GRANT ALL ON *.* TO 'pwned'@'%';\n")
    before = node_state(stack)
    log = import_fails(stack, archive(tmp_path / "reach.tar.gz", dump), "reach")
    assert "line 5" in log and "CREATE USER 'pwned'" in log and "database user" in log, log
    unchanged(stack, before)


@pytest.mark.parametrize(("name", "dump", "why"), [
    ("use-after-tables", OPTIONS + b"USE `wpother`;\n", "after the dump wrote tables"),
    ("outfile", OPTIONS + b"SELECT '<?php' INTO OUTFILE '/tmp/pwned-outfile';\n", "OUTFILE"),
    ("load-file", OPTIONS + b"INSERT INTO `wp_options` VALUES (9,'x',LOAD_FILE('/etc/shadow'),"
     b"'no');\n", "LOAD_FILE"),
    ("load-data", OPTIONS + b"LOAD DATA LOCAL INFILE '/etc/shadow' INTO TABLE wp_options;\n",
     "loads a file"),
    ("definer", OPTIONS + b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 "
     b"TRIGGER t BEFORE INSERT ON wp_options FOR EACH ROW SET NEW.autoload = 'x' */;\n",
     "trigger"),
    ("plugin", OPTIONS + b"INSTALL SONAME 'ha_connect';\n", "plugin"),
    ("shell", OPTIONS + b"\\! touch /tmp/pwned-shell\n", "client command"),
    ("sandbox-line", b"/*M!999999\\! touch /tmp/pwned-sandbox */\n" + OPTIONS,
     "client command"),
    ("password", OPTIONS + b"SET PASSWORD FOR 'root'@'localhost' = PASSWORD('x');\n",
     "password"),
])
def test_statements_outside_a_wordpress_dump_are_refused(
        stack: Stack, victim: Environment, tmp_path: Path, name: str, dump: bytes,
        why: str) -> None:
    before = node_state(stack)
    log = import_fails(stack, archive(tmp_path / f"{name}.tar.gz", dump), f"sql-{name}")
    assert why in log and "line " in log
    unchanged(stack, before)


@pytest.fixture(scope="module")
def forced(stack: Stack, victim: Environment) -> Environment:
    job = stack.core.sites.create(stack.token, "Forced", "forced", node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    return stack.env("forced", "production")


def restore_unchecked(env: Environment, dump: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    """``restore-stream`` run by hand with the SQL check switched off (the test-only
    switch no job sets): what least privilege alone still stops."""
    plain = tmp_path / "forced.tar"
    with tarfile.open(plain, "w") as tf:
        for info, data in (member("meta.json", json.dumps({"source_url": env.preview_url}
                                                          ).encode()), member("db.sql", dump)):
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    packed = subprocess.run(["zstd", "-q", "-c", str(plain)], capture_output=True,
                            check=True).stdout
    data = {**env_inputs(env), "restore_id": "f0cced00", "release": "20260101T000000Z-f0cced00"}
    try:
        return subprocess.run([*ENVCTL, "restore-stream", json.dumps(data)],
                              input=packed, capture_output=True,
                              env={**os.environ, "PRESSLUFT_UNSAFE_SKIP_SQL_CHECK": "1"})
    finally:
        subprocess.run([*ENVCTL, "restore-finish"], input=json.dumps(data).encode(),
                       capture_output=True, check=True)


@pytest.mark.parametrize(("name", "sql"), [
    ("use-other", b"USE `{other}`;\nDROP TABLE `wp_posts`;\n"),
    ("qualified", b"DROP TABLE `{other}`.`wp_posts`;\n"),
    ("create-user", b"CREATE USER 'pwned'@'%' IDENTIFIED BY 'pwned-password';\n"),
    ("grant", b"GRANT ALL ON `{other}`.* TO CURRENT_USER;\n"),
    ("outfile", b"SELECT 'x' INTO OUTFILE '/tmp/pwned-forced';\n"),
    ("load-local", b"CREATE TABLE t (a text);\n"
                   b"LOAD DATA LOCAL INFILE '/etc/shadow' INTO TABLE t;\n"),
    ("privileges", b"UPDATE mysql.global_priv SET Priv = '{}';\n"),
])
def test_forced_past_the_check_the_import_still_cannot_leave_its_environment(
        stack: Stack, victim: Environment, forced: Environment, tmp_path: Path, name: str,
        sql: bytes) -> None:
    before = node_state(stack)
    own = checksums(node_names(forced.id))
    dump = OPTIONS + sql.replace(b"{other}", node_names(victim.id).encode())
    done = restore_unchecked(forced, dump, tmp_path)
    assert done.returncode == 1, done.stderr.decode()
    assert b"SQL check skipped" in done.stdout
    err = done.stderr.decode()
    assert "denied" in err or "LOAD DATA LOCAL" in err or "not allowed" in err, err
    unchanged(stack, before)
    assert checksums(node_names(forced.id)) == own  # staged aside, never swapped in


def sample_command_lines(stop: threading.Event, seen: list[str]) -> None:
    while not stop.is_set():
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        seen.extend(line for line in ps.splitlines() if "mariadb" in line or "mysql" in line)


def test_a_databases_dump_of_a_real_wordpress_imports_into_its_own_database(
        stack: Stack, victim: Environment, tmp_path: Path) -> None:
    """``mysqldump --databases`` names the victim's database in CREATE DATABASE and USE:
    those lines are dropped (the log says so) and every row lands in the new site; no
    command line ever shows a password."""
    source = node_names(victim.id)
    dump = subprocess.run(["mysqldump", "--databases", source], capture_output=True,
                          check=True).stdout
    bulk = b"CREATE TABLE `wp_bulk` (`id` int PRIMARY KEY, `v` longtext);\n" + b"".join(
        b"INSERT INTO `wp_bulk` VALUES " + b",".join(
            b"(%d,'%s')" % (n * 500 + i, b"x" * 200) for i in range(500)) + b";\n"
        for n in range(200))  # ~20 MB, so the load runs long enough to be watched
    path = archive(tmp_path / "databases.tar.gz", dump + b"USE `" + source.encode() + b"`;\n"
                   + bulk, source_url=victim.preview_url)
    before = node_state(stack)
    job = stack.core.sites.import_site(stack.token, "From Dump", "from-dump", str(path),
                                       node=stack.node_name)
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=sample_command_lines, args=(stop, seen))
    watcher.start()
    try:
        done = stack.run(job.id)
    finally:
        stop.set()
        watcher.join()
    log = stack.log(job.id)
    assert done.status == "succeeded", log
    assert f"CREATE DATABASE/USE lines for '{source}' are dropped" in log
    copy = stack.env("from-dump", "production")
    status, body = http_get(copy.preview_url)
    assert status == 200 and b"Victim Shop" in body
    assert mysql("SELECT COUNT(*) FROM wp_bulk", node_names(copy.id)).strip() == "100000"
    unchanged(stack, before, new=copy)
    assert any("--defaults-file=/run/pressluft/" in line for line in seen), seen[:20]
    passwords = [stack.core.rt.secrets.get(db_password_secret(env.id))
                 for env in (copy, victim)]
    assert not [line for line in seen if "password" in line.lower()
                or any(p in line for p in passwords)]
    assert not list(Path("/run/pressluft").glob("*.cnf"))


def test_an_all_databases_dump_is_refused(stack: Stack, victim: Environment,
                                          tmp_path: Path) -> None:
    dump = subprocess.run(["mysqldump", "--all-databases", "--skip-lock-tables"],
                          capture_output=True, check=True).stdout
    before = node_state(stack)
    log = import_fails(stack, archive(tmp_path / "all.tar.gz", dump), "all-databases")
    assert "db.sql: line " in log  # the system schema's views, or its second database
    unchanged(stack, before)


@pytest.mark.parametrize(("name", "members", "why"), [
    ("hardlink", [member("files/uploads/passwd", kind=tarfile.LNKTYPE, link="/etc/passwd")],
     "not a file, directory or symlink"),
    ("device", [member("files/uploads/mem", kind=tarfile.CHRTYPE)], "not a file"),
    ("absolute", [member("/tmp/pwned-absolute", b"x")], "outside"),
    ("dotdot", [member("files/../../../../tmp/pwned-dotdot", b"x")], "outside"),
    ("symlink-out", [member("files/uploads/etc", kind=tarfile.SYMTYPE, link="/etc")],
     "links outside"),
    ("symlink-chain", [member("files/uploads/d", kind=tarfile.SYMTYPE, link="."),
                       member("files/uploads/e", kind=tarfile.SYMTYPE,
                              link="d/d/d/d/d/d/d/d/../../../../../../../../tmp"),
                       member("files/uploads/e/pwned-chain", b"x")], "links upwards"),
    ("through-link", [member("files/uploads/l", kind=tarfile.SYMTYPE, link="2024"),
                      member("files/uploads/l/x.php", b"<?php")], "through the symlink"),
    ("newline", [member("files/uploads/a\nserver_name evil;", b"x")], "control character"),
    ("source-url", [], "no source URL"),
])
def test_hostile_archive_members_are_refused(
        stack: Stack, victim: Environment, tmp_path: Path, name: str, members: list,
        why: str) -> None:
    url = "http://old.example/$(touch /tmp/pwned-url)" if name == "source-url" else \
        "http://old.example"
    before = node_state(stack)
    log = import_fails(stack, archive(tmp_path / f"{name}.tar.gz", OPTIONS, *members,
                                      source_url=url), f"tar-{name}")
    assert why in log, log
    unchanged(stack, before)


@pytest.fixture
def bomb(tmp_path: Path) -> Iterator[Path]:
    """1 GiB of zeros in a few kilobytes of .tar.zst."""
    path = tmp_path / "bomb.tar.zst"
    script = ("import io, sys, tarfile\n"
              "out = tarfile.open(fileobj=sys.stdout.buffer, mode='w|')\n"
              "for name, data in (('meta.json', b'{}'), ('db.sql', b'')):\n"
              "    info = tarfile.TarInfo(name); info.size = len(data)\n"
              "    out.addfile(info, io.BytesIO(data))\n"
              "class Zeros(io.RawIOBase):\n"
              "    def readable(self): return True\n"
              "    def readinto(self, b): b[:] = bytes(len(b)); return len(b)\n"
              "info = tarfile.TarInfo('files/uploads/zeros'); info.size = 1 << 30\n"
              "out.addfile(info, io.BufferedReader(Zeros(), 1 << 20)); out.close()\n")
    with open(path, "wb") as handle:
        maker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        subprocess.run(["zstd", "-q", "-1", "-c"], stdin=maker.stdout, stdout=handle,
                       check=True)
        assert maker.wait() == 0
    yield path


def test_a_compression_bomb_is_refused_at_the_size_limit_without_filling_the_disk(
        bomb: Path) -> None:
    assert bomb.stat().st_size < 1 << 20
    free = os.statvfs("/var/tmp").f_bavail * os.statvfs("/var/tmp").f_frsize
    with open(bomb, "rb") as handle:
        done = subprocess.run(
            [*ENVCTL, "import-stage", json.dumps({
                "import_id": "b0b0b0b0",
                "max_unpacked_bytes": 64 << 20})], stdin=handle, capture_output=True)
    assert done.returncode == 2
    assert b"unpacks to more than 64 MiB" in done.stderr
    assert not Path("/var/tmp/pressluft-import/b0b0b0b0").exists()
    after = os.statvfs("/var/tmp").f_bavail * os.statvfs("/var/tmp").f_frsize
    assert free - after < 256 << 20
