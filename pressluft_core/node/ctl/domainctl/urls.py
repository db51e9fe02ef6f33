"""WordPress's URLs: the database with one URL rewritten, staged into a scratch database,
and what ``wp-config.php`` was written with.
"""

from __future__ import annotations

import re
import subprocess

from .._common import NAME_RE, Failed, Refused, node_archive, say
from .names import URL_RE
from .nginx import Target

# -- WordPress's URLs --------------------------------------------------------------------

def mysql(sql: str) -> str:
    proc = subprocess.run(["mariadb", "--batch", "--skip-column-names"], input=sql.encode(),
                          capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise Failed("mariadb: " + proc.stderr.decode(errors="replace")[-1000:])
    return proc.stdout.decode()


def cmd_stage_url_rewrite(data: dict) -> dict:
    """The environment's database with ``old_url`` rewritten to ``new_url`` (serialized-safe,
    streaming: ``mysqldump | search-replace | mariadb``) into the scratch database that
    ``envctl restore-swap`` swaps in with one ``RENAME TABLE`` (and ``restore-undo``
    swaps back). The live database is only read."""
    db = data.get("db_name")
    if not isinstance(db, str) or not NAME_RE.fullmatch(db):
        raise Refused(f"db_name {db!r} is not valid")
    rid = data.get("restore_id")
    if not isinstance(rid, str) or not re.fullmatch(r"[0-9a-f]{8}", rid):
        raise Refused(f"restore_id {rid!r} is not valid")
    old, new = data.get("old_url"), data.get("new_url")
    for key, url in (("old_url", old), ("new_url", new)):
        if not isinstance(url, str) or not URL_RE.fullmatch(url):
            raise Refused(f"{key} {url!r} is not valid")
    scratch = f"{db}_r{rid}"
    mysql(f"DROP DATABASE IF EXISTS `{scratch}`; CREATE DATABASE `{scratch}` "
          "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;")
    dump = subprocess.Popen(
        ["mysqldump", "--single-transaction", "--quick", "--skip-lock-tables",
         "--no-tablespaces", "--default-character-set=utf8mb4", db],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rewrite = subprocess.Popen(["python3", node_archive(), "search-replace", "--stats", old, new],
                               stdin=dump.stdout, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert dump.stdout is not None and rewrite.stdout is not None
    dump.stdout.close()
    load = subprocess.Popen(["mariadb", "--default-character-set=utf8mb4", scratch],
                            stdin=rewrite.stdout, stderr=subprocess.PIPE)
    rewrite.stdout.close()
    load_err = load.communicate()[1]
    rewrite_err = rewrite.communicate()[1]
    dump_err = dump.communicate()[1]
    for name, proc, err in (("mysqldump", dump, dump_err), ("replacer", rewrite, rewrite_err),
                            ("mariadb import", load, load_err)):
        if proc.returncode != 0:
            mysql(f"DROP DATABASE IF EXISTS `{scratch}`;")
            raise Failed(f"{name} exited {proc.returncode}: "
                         f"{err.decode(errors='replace')[-2000:]}")
    for line in rewrite_err.decode(errors="replace").splitlines():
        say(line)
    tables = len(mysql("SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                       f"TABLE_SCHEMA = '{scratch}'").split())
    say(f"database {db} copied to {scratch} with {old} rewritten to {new} ({tables} tables)")
    return {"scratch_db": scratch, "tables": tables}


def cmd_inspect_config(data: dict) -> dict:
    """What the environment's ``wp-config.php`` was written with (``envctl prepare``):
    rewriting it for a new URL must keep the table prefix, quarantine and WP-Cron."""
    target = Target(data)
    config = target.current.parent / "shared" / "wp-config.php"
    if not config.is_file():
        raise Failed(f"{config} does not exist: the environment is not prepared")
    text = config.read_text(errors="replace")
    prefix = re.search(r"^\$table_prefix = '([A-Za-z0-9_]+)';", text, re.M)
    home = re.search(r"^define\('WP_HOME', '([^']*)'\);", text, re.M)
    if not prefix:
        raise Failed(f"no $table_prefix in {config}")
    return {"table_prefix": prefix.group(1), "url": home.group(1) if home else None,
            "quarantine": "pressluft_capture_mail" in text,
            "cron": "define('DISABLE_WP_CRON', true);" not in text}
