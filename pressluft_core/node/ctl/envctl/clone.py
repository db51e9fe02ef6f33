"""Clones on this server: the code copied into a new release, uploads copied beside it, the
database through :mod:`.rewrite`, and what a clone must change afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .._common import Failed, Refused, mysql, node_command, run, say, sql_string
from .config import table_prefix
from .env import AUTO_INCREMENT_OFFSET_DEFAULT, Env, _tables
from .files import fix_release_permissions, link_shared, tree_digest
from .rewrite import copy_database


def fresh_building_dir(env: Env, release: Path) -> Path:
    building = env.releases / f".{release.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    return building


def finish_release(env: Env, building: Path, release: Path) -> None:
    link_shared(env, building)
    fix_release_permissions(building)
    shutil.rmtree(release, ignore_errors=True)
    os.replace(building, release)


def copy_current(env: Env, building: Path) -> None:
    if not env.current.is_symlink():
        raise Failed("the environment has no current release to build on")
    run(copy_tree_argv(os.path.realpath(env.current), building))


def copy_tree_argv(source: str, target: Path) -> list[str]:
    """``cp -a --reflink=auto``: on a filesystem that shares extents (btrfs, XFS with
    reflink) the copy costs metadata only and each side's later writes stay its own; on
    any other it is a plain copy. Hard links are never made between environments: a file
    is one inode with one owner, so a hard-linked upload would be either unwritable by the
    copy's user or, once chowned, another environment's file, and an in-place edit on one
    side would change the other."""
    return ["cp", "-a", "--reflink=auto", "--", source, str(target)]


def start_uploads_copy(source: Env, env: Env) -> subprocess.Popen[bytes]:
    """Replace this environment's uploads with a copy of ``source``'s (owned by this
    environment's user once ``finish_uploads_copy`` ran); runs while the database copies."""
    target = env.shared / "uploads"
    for entry in list(target.iterdir()) if target.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    target.mkdir(exist_ok=True)
    return subprocess.Popen(copy_tree_argv(f"{source.shared / 'uploads'}/.", target),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_uploads_copy(env: Env, copying: subprocess.Popen[bytes]) -> None:
    err = copying.communicate()[1]
    if copying.returncode != 0:
        raise Failed(f"copying uploads failed (cp exited {copying.returncode}): "
                     f"{err.decode(errors='replace')[-2000:]}")
    uploads = env.shared / "uploads"
    run(["chown", "-R", "--no-dereference", f"{env.user}:{env.user}", str(uploads)])
    os.chmod(uploads, 0o750)
    say(f"copied uploads ({tree_digest(uploads)['files']} files)")


def cmd_clone(data: dict) -> dict:
    """Code, uploads and database of ``source`` into this environment (prepared already),
    all on this node: the database copied inside MariaDB with URLs rewritten
    (``copy_database``), code and uploads by ``cp`` meanwhile, then AUTO_INCREMENT raised
    above the source's."""
    env = Env(data)
    source = Env(data.get("source") or {})
    release = env.release_dir(data.get("release"))
    replacer = node_command("search-replace")
    pairs = replacement_pairs(data)
    offset = int(data.get("auto_increment_offset", AUTO_INCREMENT_OFFSET_DEFAULT))

    mysql(f"DROP DATABASE IF EXISTS `{env.db_name}`; CREATE DATABASE `{env.db_name}` "
          "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;")
    if not source.current.is_symlink():
        raise Failed("the source environment has no current release to copy")
    building = fresh_building_dir(env, release)
    code = subprocess.Popen(copy_tree_argv(os.path.realpath(source.current), building),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    uploads = start_uploads_copy(source, env)
    try:
        copy_database(source.db_name, env, env.db_name, _tables(source.db_name), replacer,
                      pairs)
    finally:
        code_err = code.communicate()[1]
        if code.returncode == 0:
            finish_release(env, building, release)
            say(f"copied code of {os.readlink(source.current)} into release {release.name}")
        finish_uploads_copy(env, uploads)
    if code.returncode != 0:
        raise Failed(f"copying the code failed (cp exited {code.returncode}): "
                     f"{code_err.decode(errors='replace')[-2000:]}")
    say(f"database {source.db_name} copied to {env.db_name} with URLs rewritten")

    after_copy(env, source.db_name, offset, bool(data.get("quarantine")))
    return {"path": str(release)}


def replacement_pairs(data: dict) -> list[list[str]]:
    pairs = data.get("replacements") or []
    if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) and s for s in p)
            for p in pairs):
        raise Refused("replacements must be [old, new] pairs of non-empty strings")
    return pairs


def after_copy(env: Env, counted: str, offset: int, quarantine: bool) -> None:
    """What a clone gets after its database is copied: every AUTO_INCREMENT raised by
    ``offset`` above database ``counted``'s (so rows made on the clone never collide with
    production's at promotion), and search engines discouraged when quarantined."""
    counters = mysql(
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE "
        f"TABLE_SCHEMA = {sql_string(counted)} AND AUTO_INCREMENT IS NOT NULL")
    statements = []
    for line in counters.splitlines():
        table, value = line.split("\t")
        statements.append(f"ALTER TABLE `{table}` AUTO_INCREMENT = {int(value) + offset};")
    if statements:
        mysql("\n".join(statements), env.db_name)
    say(f"AUTO_INCREMENT raised by {offset} on {len(statements)} tables")
    if quarantine:
        prefix = table_prefix(env)
        mysql(f"UPDATE `{prefix}options` SET option_value = '0' "
              "WHERE option_name = 'blog_public'", env.db_name)
        say("search engines discouraged (blog_public = 0)")


def cmd_clone_finish(data: dict) -> dict:
    """``after_copy`` for a clone whose database came from another node (streamed and
    restored): its own counters, which the dump carried over from the source, are raised."""
    env = Env(data)
    after_copy(env, env.db_name, int(data.get("auto_increment_offset",
                                              AUTO_INCREMENT_OFFSET_DEFAULT)),
               bool(data.get("quarantine")))
    return {}
