"""Promotion (source -> production): code as a new release and the non-protected tables
staged, swapped in, or swapped back.
"""

from __future__ import annotations

import os
import re

from .._common import Refused, mysql, node_command, say, sql_string
from .clone import copy_current, finish_release, fresh_building_dir, replacement_pairs
from .config import table_prefix
from .env import Env, _tables
from .restore import cmd_restore_finish, restore_names, scratch_database
from .rewrite import copy_database

# -- promotion (source -> production): code and non-protected tables ----------------------

def cmd_release_from_env(data: dict) -> dict:
    """A new release of this environment made of ``source``'s current code (uploads and
    config stay this environment's own)."""
    env, source = Env(data), Env(data.get("source") or {})
    release = env.release_dir(data.get("release"))
    if release.is_dir():
        say(f"release {release.name} is already built")
        return {"path": str(release)}
    building = fresh_building_dir(env, release)
    copy_current(source, building)
    finish_release(env, building, release)
    say(f"built release {release.name} from {os.readlink(source.current)} of the source")
    return {"path": str(release)}


def cmd_promote_tables(data: dict) -> dict:
    """Copy the named tables of ``source`` into a scratch database beside this one, inside
    MariaDB with URLs rewritten (``copy_database``); production's own ``blog_public`` kept
    (a quarantined source has it off)."""
    env, source = Env(data), Env(data.get("source") or {})
    names = restore_names(env, data.get("promote_id"))
    replacer = node_command("search-replace")
    wanted = data.get("tables") or []
    existing = set(_tables(source.db_name))
    if not all(isinstance(t, str) and re.fullmatch(r"[A-Za-z0-9_]{1,64}", t) and t in existing
               for t in wanted):
        raise Refused("tables must name tables of the source database")
    pairs = replacement_pairs(data)
    scratch_database(names["scratch_db"])
    if wanted:
        copy_database(source.db_name, env, names["scratch_db"], wanted, replacer, pairs)
    prefix = table_prefix(env)
    if f"{prefix}options" in wanted:
        public = mysql(f"SELECT option_value FROM `{prefix}options` WHERE option_name = "
                       "'blog_public'", env.db_name).strip() or "1"
        mysql(f"UPDATE `{prefix}options` SET option_value = {sql_string(public)} WHERE "
              "option_name = 'blog_public'", names["scratch_db"])
    say(f"{len(wanted)} tables copied beside production, URLs rewritten")
    return {"copied": wanted}


def cmd_promote_swap(data: dict) -> dict:
    """Swap the copied tables in with one ``RENAME TABLE``; the tables they replace wait in
    a side database until ``restore-finish`` (or go back with ``promote-undo``)."""
    env = Env(data)
    names = restore_names(env, data.get("promote_id"))
    live, new = set(_tables(env.db_name)), _tables(names["scratch_db"])
    mysql(f"CREATE DATABASE IF NOT EXISTS `{names['old_db']}`;")
    renames = [f"`{env.db_name}`.`{t}` TO `{names['old_db']}`.`{t}`" for t in new if t in live]
    renames += [f"`{names['scratch_db']}`.`{t}` TO `{env.db_name}`.`{t}`" for t in new]
    if renames:
        mysql("RENAME TABLE " + ", ".join(renames) + ";")
    added = [t for t in new if t not in live]
    say(f"database: {len(new)} tables swapped in ({len(added)} new)")
    return {"added": added}


def cmd_promote_undo(data: dict) -> dict:
    """Put back every table ``promote-swap`` replaced, and take out the ones it added."""
    env = Env(data)
    names = restore_names(env, data.get("promote_id"))
    dbs = mysql("SHOW DATABASES").split()
    if names["old_db"] in dbs:
        kept = _tables(names["old_db"])
        added = [t for t in data.get("added") or [] if t in _tables(env.db_name)]
        mysql(f"DROP DATABASE IF EXISTS `{names['scratch_db']}`; CREATE DATABASE "
              f"`{names['scratch_db']}`;")
        renames = [f"`{env.db_name}`.`{t}` TO `{names['scratch_db']}`.`{t}`"
                   for t in kept + added]
        renames += [f"`{names['old_db']}`.`{t}` TO `{env.db_name}`.`{t}`" for t in kept]
        if renames:
            mysql("RENAME TABLE " + ", ".join(renames) + ";")
        say(f"database: {len(kept)} tables swapped back, {len(added)} removed")
    return cmd_restore_finish({**data, "restore_id": data.get("promote_id")})
