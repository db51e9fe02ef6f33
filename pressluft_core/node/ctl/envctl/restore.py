"""Restores: an archive (or a database stream) staged beside the live environment, then
swapped in, undone or finished.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from .._common import Failed, Refused, mysql, node_command, say
from .backup import UNSAFE_SKIP_SQL_CHECK, SpaceBudget, Unpacker
from .clone import copy_current, finish_release, fresh_building_dir
from .env import Env, EnvironmentDatabase, _tables
from .files import TreeGuard

MAX_UNPACKED_BYTES = 100 * 1024 ** 3
SOURCE_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?")


def restore_names(env: Env, restore_id: object) -> dict:
    if not isinstance(restore_id, str) or not re.fullmatch(r"[0-9a-f]{8}", restore_id):
        raise Refused(f"restore_id {restore_id!r} is not valid")
    return {"scratch_db": f"{env.db_name}_r{restore_id}", "old_db": f"{env.db_name}_o{restore_id}",
            "uploads_new": env.shared / f"uploads.restore-{restore_id}",
            "uploads_old": env.shared / f"uploads.old-{restore_id}"}


def cmd_restore_stream(data: dict) -> dict:
    """Read a backup (tar.zst) on stdin and stage it beside the live environment: database
    into a scratch database (URLs rewritten when it came from elsewhere), code as a new
    release, uploads as a new directory. Nothing live is touched until ``restore-swap``."""
    return stage_archive(data, sys.stdin.buffer)


def decompressor(head: bytes) -> list[str]:
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return ["zstd", "-q", "-d", "-c"]
    if head.startswith(b"\x1f\x8b"):
        return ["gzip", "-d", "-c"]
    raise Refused("the archive is neither .tar.zst nor .tar.gz")


def stage_archive(data: dict, source) -> dict:  # type: ignore[no-untyped-def]
    """``restore-stream``'s work on any compressed archive (a stream or a staged file).
    Root reads the archive; the SQL runs as the environment's MariaDB user after the SQL
    check, the files are written by the environment's Linux user (docs/security.md)."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    release = env.release_dir(data.get("release"))
    helpers = {"replacer": node_command("search-replace"), "sqlguard": node_command("sqlguard")}
    files_only = bool(data.get("files_only"))  # a move: the database comes on its own
    if not files_only:
        scratch_database(names["scratch_db"])
    building = fresh_building_dir(env, release)
    uploads_new = names["uploads_new"]
    code_new = env.dir / "tmp" / f"restore-{data.get('restore_id')}"
    core_new = env.dir / "tmp" / f"restore-core-{data.get('restore_id')}"
    shutil.rmtree(uploads_new, ignore_errors=True)
    limit = int(data.get("max_unpacked_bytes") or MAX_UNPACKED_BYTES)
    files_budget = SpaceBudget(limit, env.dir)
    db_budget = SpaceBudget(limit, Path("/var/lib/mysql") if Path("/var/lib/mysql").is_dir()
                            else env.dir)
    if source is sys.stdin.buffer:
        argv = ["zstd", "-q", "-d", "-c"]
    else:
        argv = decompressor(source.read(4))
        source.seek(0)
    unpack = subprocess.Popen(argv, stdin=source, stdout=subprocess.PIPE)
    meta: dict = dict(data.get("meta") or {})
    has = {"db": False, "files": False, "core": False}
    files: Unpacker | None = None
    tree = TreeGuard()
    assert unpack.stdout is not None
    try:
        with tarfile.open(fileobj=unpack.stdout, mode="r|") as tf:
            for member in tf:
                if member.name.startswith("./"):  # made with `tar -C dir .`
                    member.name = member.name[2:]
                if member.name in ("", "."):
                    continue
                tree.check(member)
                if member.name == "meta.json":
                    meta = {**json.loads(tf.extractfile(member).read()),  # type: ignore[union-attr]
                            **meta}
                    continue
                if not meta:
                    raise Refused("the archive does not start with meta.json")
                if member.name == "db.sql" and files_only:
                    raise Refused("db.sql in a files-only stream")
                if member.name == "db.sql":
                    db_budget.take(member)
                    import_dump(tf.extractfile(member), env, names["scratch_db"], helpers,
                                meta.get("source_url"), env.url)
                    has["db"] = True
                elif member.name.startswith("core/") and data.get("with_core") \
                        and has["files"]:
                    files_budget.take(member)  # after files/: the whole release, moved
                    has["core"] = True
                    files.add(member, member.name, tf.extractfile(member))  # type: ignore[union-attr]
                elif member.name == "files" or member.name.startswith("files/"):
                    files_budget.take(member)
                    if files is None:
                        files = Unpacker(env, code_new, uploads_new, core_new)
                        has["files"] = True
                    rel = member.name[len("files/"):] if member.name != "files" else ""
                    if rel == "uploads" or rel.startswith("uploads/"):
                        files.add(member, "uploads/" + rel[len("uploads"):].lstrip("/"),
                                  tf.extractfile(member))
                    elif rel:
                        files.add(member, "code/" + rel, tf.extractfile(member))
        if files is not None:
            files.close()
    except BaseException:
        if files is not None:
            files.proc.kill()
            files.proc.wait()
        for path in (code_new, uploads_new, core_new):
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        unpack.stdout.close()
    if unpack.wait() != 0:
        raise Failed("the archive stream could not be decompressed")
    if has["files"]:
        if has["core"]:
            os.replace(core_new, building)
        else:
            shutil.rmtree(core_new, ignore_errors=True)
            copy_current(env, building)
        shutil.rmtree(building / "wp-content", ignore_errors=True)
        os.replace(code_new, building / "wp-content")
        finish_release(env, building, release)
        os.chmod(uploads_new, 0o750)
    say(f"staged: database {'yes' if has['db'] else 'no'}, files "
        f"{'yes' if has['files'] else 'no'} (backup of {meta.get('source_url')})")
    return {"db": has["db"], "files": has["files"], "meta": meta}


def scratch_database(name: str) -> None:
    mysql(f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET "
          "utf8mb4 COLLATE utf8mb4_unicode_ci;")


def cmd_dump_stream(data: dict) -> None:
    """The environment's database on stdout, ``mysqldump | zstd``, nothing staged: a move
    streams it beside the files so that the dump, the transfer and the import overlap."""
    env = Env(data)
    dump = subprocess.Popen(
        ["mysqldump", "--single-transaction", "--quick", "--skip-lock-tables",
         "--no-tablespaces", "--default-character-set=utf8mb4", env.db_name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pack = subprocess.run(["zstd", "-q", "-c", "-3", "-T0"], stdin=dump.stdout,
                          stdout=sys.stdout.buffer, check=False)
    err = dump.stderr.read() if dump.stderr else b""
    if dump.wait() != 0 or pack.returncode != 0:
        raise Failed("mysqldump | zstd failed: " + err.decode(errors="replace")[-1000:])
    print("database streamed", file=sys.stderr, flush=True)


def cmd_restore_db_stream(data: dict) -> dict:
    """A ``dump-stream`` on stdin into the restore's scratch database, through the same SQL
    check, URL replacer (from ``source_url`` to this environment's URL when they differ)
    and unprivileged client as every other dump; nothing live is touched."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    helpers = {"replacer": node_command("search-replace"), "sqlguard": node_command("sqlguard")}
    source_url = data.get("source_url")
    if not isinstance(source_url, str) or not SOURCE_URL_RE.fullmatch(source_url):
        raise Refused(f"source_url {source_url!r} is not an http(s) URL")
    scratch_database(names["scratch_db"])
    unpack = subprocess.Popen(["zstd", "-q", "-d", "-c"], stdin=sys.stdin.buffer,
                              stdout=subprocess.PIPE)
    try:
        import_dump(unpack.stdout, env, names["scratch_db"], helpers, source_url, env.url)
    finally:
        if unpack.stdout is not None:
            unpack.stdout.close()
    if unpack.wait() != 0:
        raise Failed("the database stream could not be decompressed")
    say(f"staged: database ({source_url})")
    return {"db": True}


def import_dump(member, env: Env, database: str, helpers: dict,  # type: ignore[no-untyped-def]
                source_url: object, target_url: str) -> None:
    """``db.sql`` into ``database``: the SQL check, then the URL replacer (both as the
    environment's Linux user), then ``mariadb`` as the environment's MariaDB user."""
    stages: list[tuple[str, list[str]]] = []
    unprivileged = ["runuser", "-u", env.user, "--"]
    if os.environ.get(UNSAFE_SKIP_SQL_CHECK) == "1":
        say(f"SQL check skipped ({UNSAFE_SKIP_SQL_CHECK} is set)")
    else:
        stages.append(("the SQL check", [*unprivileged, *helpers["sqlguard"]]))
    if isinstance(source_url, str) and source_url and source_url != target_url:
        stages.append(("the URL replacer", [*unprivileged, *helpers["replacer"], source_url,
                                            target_url]))
        say(f"rewriting {source_url} -> {target_url}")
    with EnvironmentDatabase(env, database) as client:
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        for name, argv in [*stages, ("mariadb", client)]:
            last = name == "mariadb"
            procs.append((name, subprocess.Popen(
                argv, stdin=procs[-1][1].stdout if procs else subprocess.PIPE,
                stdout=None if last else subprocess.PIPE, stderr=subprocess.PIPE)))
            if len(procs) > 1:
                procs[-2][1].stdout.close()  # type: ignore[union-attr]
        sink = procs[0][1].stdin
        assert sink is not None
        try:
            while chunk := member.read(1 << 20):
                sink.write(chunk)
            sink.close()
        except BrokenPipeError:
            pass  # a stage stopped early: its exit status says why
        errors = {name: proc.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
                  for name, proc in procs}
        codes = {name: proc.wait() for name, proc in procs}
    for line in errors.get("the SQL check", "").splitlines():
        if line.startswith("sqlguard: ") and not line.startswith("sqlguard: refused: "):
            say(line[len("sqlguard: "):])
    if codes.get("the SQL check", 0) != 0:
        refused = [line for line in errors["the SQL check"].splitlines()
                   if line.startswith("sqlguard: refused: ")]
        if refused:
            raise Refused("db.sql: " + refused[-1][len("sqlguard: refused: "):])
        raise Failed("the SQL check failed: " + errors["the SQL check"][-1000:])
    for name, code in codes.items():
        if code != 0:
            raise Failed(f"importing the dump failed ({name} exited {code}): "
                         + errors[name][-1000:])


def cmd_restore_swap(data: dict) -> dict:
    """Make the staged restore live: all tables swapped in one ``RENAME TABLE`` (the
    replaced ones kept in a side database), uploads swapped, ``current`` switched. The
    previous state stays until ``restore-finish`` or is put back by ``restore-undo``."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    if data.get("db"):
        live, new = _tables(env.db_name), _tables(names["scratch_db"])
        mysql(f"CREATE DATABASE IF NOT EXISTS `{names['old_db']}`;")
        renames = [f"`{env.db_name}`.`{t}` TO `{names['old_db']}`.`{t}`" for t in live]
        renames += [f"`{names['scratch_db']}`.`{t}` TO `{env.db_name}`.`{t}`" for t in new]
        if renames:
            mysql("RENAME TABLE " + ", ".join(renames) + ";")
        say(f"database: {len(new)} tables swapped in, {len(live)} kept aside")
    if data.get("files"):
        os.replace(env.shared / "uploads", names["uploads_old"])
        os.replace(names["uploads_new"], env.shared / "uploads")
        say("uploads swapped in")
    return {}


def cmd_restore_undo(data: dict) -> dict:
    """Put back what ``restore-swap`` replaced (the failed restore is dropped)."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    if data.get("db") and names["old_db"] in mysql("SHOW DATABASES").split():
        restored = _tables(env.db_name)
        mysql(f"DROP DATABASE IF EXISTS `{names['scratch_db']}`; CREATE DATABASE "
              f"`{names['scratch_db']}`;")
        renames = [f"`{env.db_name}`.`{t}` TO `{names['scratch_db']}`.`{t}`" for t in restored]
        renames += [f"`{names['old_db']}`.`{t}` TO `{env.db_name}`.`{t}`"
                    for t in _tables(names["old_db"])]
        if renames:
            mysql("RENAME TABLE " + ", ".join(renames) + ";")
        say("database: previous tables swapped back")
    if data.get("files") and names["uploads_old"].exists():
        shutil.rmtree(names["uploads_new"], ignore_errors=True)
        os.replace(env.shared / "uploads", names["uploads_new"])
        os.replace(names["uploads_old"], env.shared / "uploads")
        say("uploads swapped back")
    return cmd_restore_finish(data)


def cmd_restore_finish(data: dict) -> dict:
    """Drop what a restore kept aside (or left staged)."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    mysql(f"DROP DATABASE IF EXISTS `{names['scratch_db']}`; "
          f"DROP DATABASE IF EXISTS `{names['old_db']}`;")
    for path in (names["uploads_new"], names["uploads_old"]):
        shutil.rmtree(path, ignore_errors=True)
    return {}
