"""Builders for the hostile-input corpus: import archives, and a snapshot of everything on
the node that a hostile input must not touch (every other environment's tables and files,
MariaDB's users, files dropped in /tmp)."""

from __future__ import annotations

import glob
import io
import json
import os
import tarfile
from pathlib import Path

from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.models import Environment
from tests.wordpress.stack import Stack, mysql

OPTIONS = (b"CREATE TABLE `wp_options` (`option_id` bigint NOT NULL AUTO_INCREMENT, "
           b"`option_name` varchar(191) NOT NULL, `option_value` longtext NOT NULL, "
           b"`autoload` varchar(20) NOT NULL, PRIMARY KEY (`option_id`));\n"
           b"INSERT INTO `wp_options` VALUES (1,'siteurl','http://old.example','yes'),"
           b"(2,'home','http://old.example','yes');\n")


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "",
           ) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info, data


def archive(path: Path, dump: bytes, *members: tuple[tarfile.TarInfo, bytes],
            source_url: str = "http://old.example") -> Path:
    """An import archive: meta.json, db.sql, then ``members`` as given."""
    with tarfile.open(path, "w:gz") as tf:
        for info, data in (member("meta.json", json.dumps({"source_url": source_url}
                                                          ).encode()),
                           member("db.sql", dump), *members):
            info.size = len(data) if info.isfile() else 0
            tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def checksums(database: str) -> dict[str, str]:
    tables = mysql("SHOW TABLES", database).split()
    return {t: mysql(f"CHECKSUM TABLE `{t}`", database).split()[-1] for t in tables}


def tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with size, mode and mtime (PHP's logs and temp left out)."""
    found = {}
    for base, dirs, names in os.walk(root):
        if Path(base) == root:
            dirs[:] = [d for d in dirs if d not in ("logs", "tmp")]
        for name in [*dirs, *names]:
            path = Path(base, name)
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mode, stat.st_mtime_ns)
    return found


def node_state(stack: Stack) -> dict:
    """What must stay as it is: each existing environment's tables and files, the server's
    accounts and privileges, and no /tmp/pwned-* anywhere."""
    envs = {}
    for env in Environment.select().where(Environment.status == "active"):
        name = node_names(env.id)
        envs[env.id] = (checksums(name), tree(stack.sites_root / env.site_id / env.id))
    return {"envs": envs,
            "users": mysql("SELECT User, Host FROM mysql.user ORDER BY User, Host"),
            "grants": mysql("SELECT * FROM mysql.db ORDER BY Db, User"),
            "pwned": sorted(glob.glob("/tmp/pwned-*") + glob.glob("/var/tmp/pwned-*"))}


def unchanged(stack: Stack, before: dict, new: Environment | None = None) -> None:
    """``before`` still holds; ``new``, an environment the case created, may have added its
    own account and grant."""
    after = node_state(stack)
    for env_id, state in before["envs"].items():
        assert after["envs"].get(env_id) == state, f"environment {env_id} changed"

    def others(text: str) -> list[str]:
        return [line for line in text.splitlines() if not new or node_names(new.id) not in line]
    assert others(after["users"]) == others(before["users"]), "MariaDB accounts changed"
    assert others(after["grants"]) == others(before["grants"]), "database privileges changed"
    assert after["pwned"] == [], f"files dropped: {after['pwned']}"
