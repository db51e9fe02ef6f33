"""Backups as a binary stream on stdout, and the checked unpacking (as the environment's
user) that restores and imports share.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from .._common import Failed, Refused, ensure_dir, mysql, node_command, sql_string
from .config import table_prefix
from .env import Env
from .files import TreeGuard, tree_digest

# -- backups and restores (binary stream on stdout / stdin; human lines on stderr) ------------

CACHE_DIRS = {"cache", "et-cache", "litespeed", "w3tc-cache", "wp-rocket-cache"}


def wp_version(release: Path) -> str:
    text = (release / "wp-includes" / "version.php").read_text(errors="replace")
    match = re.search(r"^\$wp_version = '([^']+)';", text, re.M)
    return match.group(1) if match else "unknown"


def cmd_backup_estimate(data: dict) -> dict:
    """Sizes read before a backup: the multipart part size is chosen from them."""
    env = Env(data)
    db_bytes = int(mysql(
        "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = {sql_string(env.db_name)}").strip() or 0)
    release = Path(os.path.realpath(env.current))
    files = tree_digest(release / "wp-content")["bytes"] + tree_digest(
        env.shared / "uploads")["bytes"]
    return {"db_bytes": db_bytes, "files_bytes": files, "wordpress_version":
            wp_version(release), "table_prefix": table_prefix(env)}


def _excluded(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = info.name.split("/")
    if len(parts) >= 2 and parts[1] in CACHE_DIRS:
        return None
    if len(parts) >= 3 and parts[1] == "uploads" and parts[2] in CACHE_DIRS:
        return None
    return info


def cmd_backup_stream(data: dict) -> None:
    """The import format, zstd-compressed, on stdout: ``meta.json``, ``db.sql``, ``files/``
    (wp-content, uploads followed, cache dirs left out). The dump is staged compressed in
    the environment's private tmp/ (a tar member's size comes before its bytes) and removed;
    files are never staged."""
    env = Env(data)
    scope = data.get("scope")
    if scope not in ("db", "files", "full"):
        raise Refused(f"scope {scope!r} is not db, files or full")
    release = Path(os.path.realpath(env.current))
    meta = {"format": 1, "source_url": env.url, "site_id": env.site_id,
            "environment_id": env.env_id, "scope": scope,
            "wordpress_version": wp_version(release), "table_prefix": table_prefix(env),
            "backup_id": data.get("backup_id")}
    for stale in (env.dir / "tmp").glob("backup-*.sql.zst"):  # left by a killed stream
        stale.unlink(missing_ok=True)
    staged = env.dir / "tmp" / f"backup-{os.getpid()}.sql.zst"
    dump_size = 0
    try:
        if scope in ("db", "full"):
            with open(staged, "wb") as out:
                dump = subprocess.Popen(
                    ["mysqldump", "--single-transaction", "--quick", "--skip-lock-tables",
                     "--no-tablespaces", "--default-character-set=utf8mb4", env.db_name],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                pack = subprocess.Popen(["zstd", "-q", "-c", "-3"], stdin=subprocess.PIPE,
                                        stdout=out)
                assert dump.stdout is not None and pack.stdin is not None
                while chunk := dump.stdout.read(1 << 20):
                    dump_size += len(chunk)
                    pack.stdin.write(chunk)
                pack.stdin.close()
                err = dump.stderr.read() if dump.stderr else b""
                if dump.wait() != 0 or pack.wait() != 0:
                    raise Failed("mysqldump failed: " + err.decode(errors="replace")[-1000:])
            print(f"database dumped: {dump_size} bytes", file=sys.stderr, flush=True)
        compress = subprocess.Popen(["zstd", "-q", "-c", "-3", "-T0"], stdin=subprocess.PIPE,
                                    stdout=sys.stdout.buffer)
        assert compress.stdin is not None
        with tarfile.open(fileobj=compress.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            body = json.dumps(meta, indent=1).encode()
            info = tarfile.TarInfo("meta.json")
            info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
            tf.addfile(info, io_bytes(body))
            if scope in ("db", "full"):
                unpack = subprocess.Popen(["zstd", "-q", "-d", "-c", str(staged)],
                                          stdout=subprocess.PIPE)
                info = tarfile.TarInfo("db.sql")
                info.size, info.mtime, info.mode = dump_size, int(time.time()), 0o644
                tf.addfile(info, unpack.stdout)
                if unpack.wait() != 0:
                    raise Failed("reading the staged dump failed")
            if scope in ("files", "full"):
                content = release / "wp-content"
                for entry in sorted(content.iterdir()):
                    if entry.name == "uploads" or entry.name in CACHE_DIRS:
                        continue
                    tf.add(entry, arcname=f"files/{entry.name}", filter=_excluded)
                tf.add(env.shared / "uploads", arcname="files/uploads", filter=_excluded)
            if data.get("with_core"):  # a move: the target has no release to build on
                for entry in sorted(release.iterdir()):
                    if entry.name not in ("wp-content", "wp-config.php"):
                        tf.add(entry, arcname=f"core/{entry.name}")
        compress.stdin.close()
        if compress.wait() != 0:
            raise Failed("zstd failed")
    finally:
        staged.unlink(missing_ok=True)
    print("backup stream complete", file=sys.stderr, flush=True)


def io_bytes(body: bytes):  # type: ignore[no-untyped-def]
    import io
    return io.BytesIO(body)


UNSAFE_SKIP_SQL_CHECK = "PRESSLUFT_UNSAFE_SKIP_SQL_CHECK"  # tests only: never set by a job
DISK_RESERVE = 1 << 30


class SpaceBudget:
    """What an archive may unpack to: at most ``limit`` bytes and, where it lands on
    ``where``, the free space there less a reserve. Counted from the members' headers, so
    a compression bomb is refused at its first member too many, before it is written."""

    def __init__(self, limit: int, where: Path | None = None) -> None:
        self.allowed = limit
        if where is not None:
            self.allowed = min(limit, shutil.disk_usage(where).free - DISK_RESERVE)
        self.left, self.where = self.allowed, where

    def take(self, member: tarfile.TarInfo) -> None:
        self.left -= member.size
        if self.left < 0:
            space = f", the space left on {self.where}" if self.where else ""
            raise Refused(f"the archive unpacks to more than {max(self.allowed, 0) // 2**20} "
                          f"MiB (at {member.name!r}{space}): refused before anything is "
                          "written")


class Unpacker:
    """Files of an archive written by the environment's own user (``envctl unpack``
    under ``runuser``): root only reads the archive and forwards checked members, so even
    a member that slipped past the checks can only land where that user may write."""

    def __init__(self, env: Env, code: Path, uploads: Path, core: Path) -> None:
        for path in (code, uploads, core):
            shutil.rmtree(path, ignore_errors=True)
            ensure_dir(path, 0o750, env.user, env.user)
        self.proc = subprocess.Popen(
            ["runuser", "-u", env.user, "--", *node_command("envctl"), "unpack",
             json.dumps({"code": str(code), "uploads": str(uploads), "core": str(core)})],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stdin is not None
        self.tar = tarfile.open(  # noqa: SIM115 (closed by close(), after the last member)
            fileobj=self.proc.stdin, mode="w|", format=tarfile.PAX_FORMAT)
        self.tar.copybufsize = 1 << 20

    def add(self, member: tarfile.TarInfo, name: str, data) -> None:  # type: ignore[no-untyped-def]
        member.name = name
        member.pax_headers = {}  # its "path" would override the new name
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        try:
            self.tar.addfile(member, data if member.isfile() else None)
        except BrokenPipeError:
            self.close()

    def close(self) -> None:
        try:
            self.tar.close()
            self.proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        if self.proc.wait() != 0:
            why = [line for line in err.splitlines() if line.startswith("envctl: ")]
            message = why[-1][len("envctl: "):] if why else err[-1000:]
            raise (Refused if self.proc.returncode == 2 else Failed)(
                f"unpacking the archive's files failed: {message}")


def cmd_unpack(data: dict) -> dict:
    """Run as the environment's user: a tar stream of ``code/…``, ``uploads/…`` and
    ``core/…`` members on stdin, each checked again, extracted into the directories it
    was given."""
    dests = {name: Path(str(data[name])) for name in ("code", "uploads", "core")
             if data.get(name)}
    extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    tree = TreeGuard()
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
        for member in tf:
            tree.check(member)
            top, _, rel = member.name.partition("/")
            if top not in dests:
                raise Refused(f"unexpected member {member.name!r}")
            if not rel:
                continue
            member.name = rel
            tf.extract(member, dests[top], set_attrs=False, **extra)
    return {}
