"""Checksums of an environment's tables and files, so drift since a clone can be told.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .._common import Refused, mysql, say
from .config import table_prefix
from .env import Env, _tables
from .files import files_under

# Rows of wp_options that change on their own (WordPress noise): left out of the options
# checksum so "changed since the clone" means a person or a plugin changed a setting.
OPTIONS_NOISE = ("\\_transient\\_%", "\\_site\\_transient\\_%", "cron", "%session%",
                 "action_scheduler\\_%", "recently\\_%", "%\\_lock")
NOISE_TABLES = re.compile(r"(sessions?|actionscheduler_logs|wc_sessions|woocommerce_sessions)$")


def table_checksum(database: str, table: str, prefix: str) -> dict:
    """Row count plus ``CHECKSUM TABLE`` (one pass each); the options table is summed
    without its noise rows instead (CRC32 of each row, XORed)."""
    if table == f"{prefix}options":
        noise = " AND ".join(f"option_name NOT LIKE '{n}'" for n in OPTIONS_NOISE)
        count, crc = mysql(
            "SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT_WS(CHAR(0), option_name, "
            f"option_value, autoload))), 0) FROM `{table}` WHERE {noise}", database).split()
        return {"rows": int(count), "checksum": f"options:{crc}"}
    rows = mysql(f"SELECT COUNT(*) FROM `{table}`", database).strip()
    checksum = mysql(f"CHECKSUM TABLE `{table}`", database).split()[-1]
    return {"rows": int(rows), "checksum": checksum}


def file_manifest(root: Path, known: dict) -> dict:
    """relative path -> [size, mtime_ns, sha256] of every file under ``root``; a file whose
    size and mtime match ``known`` keeps its known hash instead of being read again."""
    manifest: dict[str, list] = {}
    if not root.is_dir():
        return manifest
    for rel, full, stat in files_under(root):
        before = known.get(rel)
        if before and before[0] == stat.st_size and before[1] == stat.st_mtime_ns:
            manifest[rel] = before
            continue
        digest = hashlib.sha256()
        if not os.path.islink(full):
            with open(full, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        manifest[rel] = [stat.st_size, stat.st_mtime_ns, digest.hexdigest()]
    return manifest


def cmd_checksums(data: dict) -> dict:
    """Checksums of the named (protected) tables, of every other table when ``all_tables``
    (noise tables left out), and a manifest of each protected path: the drift baseline and
    every drift check read the same numbers."""
    env = Env(data)
    prefix = table_prefix(env)
    existing = _tables(env.db_name)
    protected = set()
    for name in data.get("tables", []):
        if not isinstance(name, str) or not re.fullmatch(r"[a-z_]{1,64}", name):
            raise Refused(f"table {name!r} is not valid")
        protected.add(prefix + name)
    tables = {t: table_checksum(env.db_name, t, prefix) for t in existing if t in protected}
    others = {}
    if data.get("all_tables"):
        others = {t: table_checksum(env.db_name, t, prefix) for t in existing
                  if t not in protected and not NOISE_TABLES.search(t)}
    paths: dict[str, dict] = {}
    known = data.get("known_files") or {}
    for rel in data.get("paths", []):
        if rel != "wp-content/uploads":
            raise Refused(f"path {rel!r} is not a protected path")
        paths[rel] = file_manifest(env.shared / "uploads", known.get(rel) or {})
    say(f"checksums: {len(tables)} protected tables, {len(others)} others, "
        f"{sum(len(m) for m in paths.values())} files")
    return {"tables": tables, "others": others, "paths": paths, "prefix": prefix,
            "all": existing}
