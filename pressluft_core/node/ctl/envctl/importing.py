"""Site import: a foreign archive staged, validated (sizes, members, the SQL check), then
restored into a new environment.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from .._common import Refused, node_command, say
from .backup import SpaceBudget
from .env import PREFIX_RE
from .files import TreeGuard
from .restore import MAX_UNPACKED_BYTES, SOURCE_URL_RE, decompressor, stage_archive

# -- site import: stage, validate, then restore into a new environment ----------------------

IMPORT_ROOT = Path("/var/tmp/pressluft-import")
MAX_IMPORT_BYTES = 20 * 1024 ** 3
MAX_IMPORT_MEMBERS = 2_000_000
OPTIONS_TABLE = re.compile(rb"CREATE TABLE `([A-Za-z0-9_]*)options`")
SITEURL = re.compile(rb"'(?:siteurl|home)','(https?://[^'\\]+)'")


def import_dir(data: dict) -> Path:
    import_id = data.get("import_id")
    if not isinstance(import_id, str) or not re.fullmatch(r"[0-9a-f]{8}", import_id):
        raise Refused(f"import_id {import_id!r} is not valid")
    return IMPORT_ROOT / import_id


def cmd_import_stage(data: dict) -> dict:
    """Take an archive on stdin into a root-only staging directory and validate it before
    anything else changes: .tar.gz/.tar.zst, members inside the tree (no absolute names,
    ``..`` or links out), ``db.sql`` present, only ``meta.json``/``db.sql``/``files/``,
    size limits, and a dump that is SQL (no client commands that would run a shell).
    Finds the source URL (meta.json, else the dump's siteurl) and the table prefix."""
    work = import_dir(data)
    guard = node_command("sqlguard")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, mode=0o700)
    archive = work / "archive"
    size = 0
    limit = int(data.get("max_bytes") or MAX_IMPORT_BYTES)
    try:
        with open(archive, "wb") as out:
            while chunk := sys.stdin.buffer.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise Refused(f"the archive is larger than {limit // 2**20} MiB")
                out.write(chunk)
        info = validate_import(archive, guard, data.get("max_unpacked_bytes"))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    info["bytes"] = size
    (work / "info.json").write_text(json.dumps(info))
    say(f"archive valid: {info['members']} members, source {info['source_url']}, "
        f"table prefix {info['prefix']}")
    return info


def validate_import(archive: Path, guard: list[str], limit: object = None) -> dict:
    with open(archive, "rb") as handle:
        argv = decompressor(handle.read(4))
    meta: dict = {}
    prefix = url = None
    members = 0
    budget = SpaceBudget(int(limit) if limit else MAX_UNPACKED_BYTES)
    tree = TreeGuard()
    seen_db = False
    with open(archive, "rb") as handle:
        unpack = subprocess.Popen(argv, stdin=handle, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        assert unpack.stdout is not None
        try:
            with tarfile.open(fileobj=unpack.stdout, mode="r|") as tf:
                for member in tf:
                    members += 1
                    if members > MAX_IMPORT_MEMBERS:
                        raise Refused(f"the archive has more than {MAX_IMPORT_MEMBERS} members")
                    name = member.name[2:] if member.name.startswith("./") else member.name
                    if name in ("", "."):
                        continue
                    budget.take(member)
                    member.name = name
                    tree.check(member)
                    if name == "meta.json":
                        meta = json.loads(tf.extractfile(member).read() or b"{}")  # type: ignore[union-attr]
                    elif name == "db.sql":
                        seen_db = True
                        prefix, url = scan_dump(tf.extractfile(member), guard)  # type: ignore[arg-type]
                    elif not (name in ("files", "") or name.startswith("files/")):
                        raise Refused(f"unexpected archive member {name!r}: an import holds "
                                      "meta.json, db.sql and files/ only")
        except tarfile.TarError as exc:
            raise Refused(f"the archive is not a valid tar: {exc}") from None
        finally:
            unpack.stdout.close()
            unpack.wait()
    if not seen_db:
        raise Refused("the archive has no db.sql")
    if prefix is None:
        raise Refused("db.sql creates no WordPress options table: not a WordPress dump")
    source_url = meta.get("source_url") or url
    if not isinstance(source_url, str) or not SOURCE_URL_RE.fullmatch(source_url):
        raise Refused("no source URL: add meta.json with source_url, or a dump whose "
                      "options hold siteurl")
    return {"source_url": source_url.rstrip("/"), "prefix": prefix, "members": members,
            "format": meta.get("format")}


def scan_dump(member, guard: list[str]) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    """The dump's table prefix and site URL, and the SQL check's verdict (run as
    ``nobody``: it only reads), before anything is created for the import."""
    prefix = url = None
    tail = b""
    check = subprocess.Popen(["runuser", "-u", "nobody", "--", *guard, "--check"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    assert check.stdin is not None and check.stderr is not None
    try:
        while chunk := member.read(1 << 20):
            check.stdin.write(chunk)
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                if prefix is None and (found := OPTIONS_TABLE.search(line)):
                    prefix = found.group(1).decode()
                if url is None and (found := SITEURL.search(line)):
                    url = found.group(1).decode()
        check.stdin.close()
    except BrokenPipeError:
        pass  # the check stopped at a refused statement
    said = check.stderr.read().decode(errors="replace").splitlines()
    if check.wait() != 0:
        refused = [line for line in said if line.startswith("sqlguard: refused: ")]
        raise Refused("db.sql: " + (refused[-1][len("sqlguard: refused: "):] if refused
                                    else "the SQL check failed: " + " ".join(said)[-500:]))
    for line in said:
        if line.startswith("sqlguard: "):
            say(line[len("sqlguard: "):])
    if prefix is not None and not PREFIX_RE.fullmatch(prefix):
        raise Refused(f"table prefix {prefix!r} is not valid")
    return prefix, url


def cmd_import_apply(data: dict) -> dict:
    """Stage the validated archive beside the (new, empty) environment, like a restore."""
    work = import_dir(data)
    info = json.loads((work / "info.json").read_text())
    with open(work / "archive", "rb", buffering=0) as handle:  # the child reads the fd
        return stage_archive({**data, "restore_id": data.get("import_id"),
                              "meta": {"source_url": info["source_url"]}}, handle)


def cmd_import_cleanup(data: dict) -> dict:
    shutil.rmtree(import_dir(data), ignore_errors=True)
    return {}
