"""Same-server copies, the MariaDB side: which tables can be copied inside the server (or
as tablespaces) and the SQL that finds and rewrites rows with an old URL.
"""

from __future__ import annotations

import contextlib
import math
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from .._common import Failed, Refused, mysql, run, sql_string
from .env import grant_name

# -- same-server copies: tables copied inside MariaDB, only rows with the old URL rewritten
#
# Source and target on one server: the rows never leave it as SQL text. Each table is
# created from the source's own ``SHOW CREATE TABLE``, then filled by copying its InnoDB
# tablespace file (``FLUSH TABLES … FOR EXPORT``, ``cp --reflink=auto``, ``ALTER TABLE …
# IMPORT TABLESPACE``) or, where that does not apply (not InnoDB file-per-table, FULLTEXT
# indexes, partitions, a name that is not its file name), by ``INSERT … SELECT``. Measured
# on a 2-vCPU node with a 128 MB buffer pool, 280 MB of InnoDB tables: tablespace files
# 1.9 s (the source write-locked 0.7 s of it), INSERT … SELECT 24 s in one session and 16 s
# in two, ``mysqldump | mariadb`` 27 s: the copy is bound by InnoDB writing rows and
# indexes page by page, not by parsing SQL, and a file copy skips all of that. Then only
# the rows in which a text column holds an old host go through the replacer (dumped with
# ``--where``, rewritten, written back over themselves by primary key with ``REPLACE``).
# Tables without a primary key (their rows cannot be written back by key), views and
# tables with triggers (a CREATE TABLE does not bring those) take the dump path
# (``mysqldump | replacer | mariadb``) as before.
#
# Who runs what: root's client reads the catalogue (table names, keys, columns, ``SHOW
# CREATE TABLE``), holds ``FLUSH TABLES … FOR EXPORT`` (it needs the global RELOAD
# privilege, which no environment user has) while root copies the tablespace files, which
# nothing but the server reads. The target environment's MariaDB user creates, discards
# and imports its own tables; for ``INSERT … SELECT`` it is given ``SELECT`` (nothing else)
# on the source database for the length of the copy: the rows it reads there are the ones
# it is being given anyway, and the source cannot be changed through it. The replacer,
# ``mysqldump`` of the rows to rewrite and the ``mariadb`` that writes them back run as the
# environment's Linux user with its MariaDB credentials (``EnvironmentDatabase``).
#
# Consistency: the tablespace files of all tables are taken under one lock, so they show
# one instant, as ``mysqldump --single-transaction`` did; writers to those tables (a
# clone's production) wait meanwhile, about 0.25 s per 100 MB here. ``INSERT … SELECT``
# reads each table as one snapshot at READ COMMITTED, which takes no locks on the source
# (REPEATABLE READ's INSERT … SELECT would take shared locks on every source row).

# Column types that can hold a URL; JSON is LONGTEXT in MariaDB. ENUM and SET hold only
# the values their definition names.
TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "binary",
              "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
# Copy sessions run side by side: the copy is bound by one core per session.
COPY_SESSIONS = 2


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def copy_plan(database: str, wanted: list[str]) -> tuple[list[str], list[str]]:
    """``wanted`` split into the tables copied inside the server and those that take the
    dump path (views, tables without a primary key or with triggers, names the batch
    client would have escaped)."""
    rows = mysql(
        "SELECT t.TABLE_NAME, t.TABLE_TYPE = 'BASE TABLE' AND EXISTS (SELECT 1 FROM "
        "information_schema.TABLE_CONSTRAINTS c WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND "
        "c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') AND NOT EXISTS "
        "(SELECT 1 FROM information_schema.TRIGGERS g WHERE g.EVENT_OBJECT_SCHEMA = "
        "t.TABLE_SCHEMA AND g.EVENT_OBJECT_TABLE = t.TABLE_NAME) AND NOT EXISTS (SELECT 1 "
        "FROM information_schema.COLUMNS k WHERE k.TABLE_SCHEMA = t.TABLE_SCHEMA AND "
        "k.TABLE_NAME = t.TABLE_NAME AND k.COLUMN_NAME REGEXP '[[:cntrl:]\\\\\\\\]') "
        f"FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = {sql_string(database)}")
    keyed = {name for name, ok in (line.split("\t") for line in rows.splitlines())
             if ok == "1"}
    return [t for t in wanted if t in keyed], [t for t in wanted if t not in keyed]


def catalogue(database: str) -> dict[str, dict]:
    """Per table: its size, the columns an INSERT writes (generated ones are computed)
    and the text columns."""
    tables: dict[str, dict] = {}
    for line in mysql("SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH FROM "
                      "information_schema.TABLES WHERE TABLE_SCHEMA = "
                      f"{sql_string(database)}").splitlines():
        name, size = line.split("\t")
        tables[name] = {"bytes": int(size) if size.isdigit() else 0, "columns": [],
                        "text": []}
    for line in mysql("SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_GENERATED FROM "
                      "information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                      f"{sql_string(database)} ORDER BY TABLE_NAME, ORDINAL_POSITION"
                      ).splitlines():
        table, column, kind, generated = line.split("\t")
        if table in tables and generated == "NEVER":
            tables[table]["columns"].append(column)
            if kind.lower() in TEXT_TYPES:
                tables[table]["text"].append(column)
    return tables


def create_statement(database: str, table: str) -> str:
    """The source's own CREATE TABLE (keys, foreign keys, charset, AUTO_INCREMENT: what
    mysqldump would have written)."""
    out = run(["mariadb", "--batch", "--raw", "--skip-column-names",
               "--default-character-set=utf8mb4", database],
              input=f"SHOW CREATE TABLE {ident(table)}".encode()).stdout.decode()
    return out.split("\t", 1)[1].rstrip("\n")


@contextlib.contextmanager
def reading(user: str, database: str):  # type: ignore[no-untyped-def]
    """``SELECT`` on ``database`` for MariaDB user ``user`` while the block runs."""
    mysql(f"GRANT SELECT ON `{grant_name(database)}`.* TO '{user}'@'localhost';")
    try:
        yield
    finally:
        mysql(f"REVOKE SELECT ON `{grant_name(database)}`.* FROM '{user}'@'localhost';")


def url_needles(pairs: list[list[str]]) -> list[str]:
    """The host (with port) of each old URL: every form the replacer rewrites (as given,
    JSON-escaped, protocol-relative) contains it."""
    needles = []
    for old, _new in pairs:
        host = (old.split("//", 1)[1] if "//" in old else old).split("/", 1)[0]
        if not host:
            raise Refused(f"replacement {old!r} names no host")
        needles.append(host)
    return sorted(set(needles))


def holding(columns: list[str], needles: list[str],
            also: Callable[[str], str] | None = None) -> str:
    """SQL true for a row whose text columns hold a needle, byte for byte (the replacer
    matches case-sensitively); with ``also`` (column → SQL), only in a value it is true of."""
    patterns = [sql_string("%" + n.replace("\\", "\\\\").replace("%", "\\%")
                           .replace("_", "\\_") + "%") for n in needles]
    return " OR ".join(f"({ident(c)} LIKE BINARY {p}" + (f" AND {also(c)})" if also else ")")
                       for c in columns for p in patterns)


# MariaDB's REGEXP_REPLACE copies the whole value for each match it replaces: k matches
# in n bytes cost k·n (32,000 URLs in 640 KB took 2.7 s a step, 800,000 in 15 MB did not
# end in 20 minutes, and a KILL is not heard meanwhile). The server rewrites a value only
# while (occurrences of the old hosts) * (its bytes) stays under this, about 10 ms; a
# value with more goes to the replacer, which is linear.
INSIDE_WORK_LIMIT = 50_000_000


def rewritten_inside(serialized: str, needles: list[str]) -> Callable[[str], str]:
    """Column → SQL true for a value the server rewrites itself: not (maybe) serialized,
    and few enough matches for REGEXP_REPLACE (``REPLACE`` counts them, in linear time).
    A value of n bytes holds at most n / len(needle) of them, so one no longer than
    ``short`` is within the limit without being counted (most values: counting each twice
    cost the rewrite about a third more)."""
    short = math.isqrt(INSIDE_WORK_LIMIT * min(len(n.encode()) for n in needles))

    def condition(column: str) -> str:
        c = ident(column)
        count = " + ".join(f"(LENGTH({c}) - LENGTH(REPLACE({c}, {sql_string(n)}, ''))) "
                           f"DIV {len(n.encode())}" for n in needles)
        return (f"(NOT {c} REGEXP {sql_string(serialized)} AND (LENGTH({c}) <= {short} OR "
                f"({count}) * LENGTH({c}) <= {INSIDE_WORK_LIMIT}))")
    return condition


def left_for_replacer(serialized: str, needles: list[str]) -> Callable[[str], str]:
    inside = rewritten_inside(serialized, needles)
    return lambda column: f"NOT {inside(column)}"


def plain_update(table: str, columns: list[str], needles: list[str],
                 steps: list[tuple[str, str]], serialized: str) -> str:
    """An UPDATE that rewrites, inside the server, each of ``columns`` that holds a needle
    and ``rewritten_inside`` takes, by the replacer's own ``steps`` (``sql_rewrites``);
    other values are left for the replacer. It reports the table, the rows changed and
    the warnings (a regex the server gave up on is a warning, its value NULL)."""
    def rewritten(column: str) -> str:
        value = ident(column)
        for pattern, replacement in steps:
            value = f"REGEXP_REPLACE({value}, {sql_string(pattern)}, {sql_string(replacement)})"
        return value

    inside = rewritten_inside(serialized, needles)
    sets = ", ".join(f"{ident(c)} = IF({inside(c)}, {rewritten(c)}, {ident(c)})"
                     for c in columns)
    return (f"UPDATE {ident(table)} SET {sets} WHERE {holding(columns, needles, inside)};\n"
            f"SELECT {sql_string(table)}, ROW_COUNT(), @@warning_count;\n")


def tablespace_tables(database: str, tables: list[str]) -> list[str]:
    """Those of ``tables`` whose rows are one InnoDB file of their own that an IMPORT
    TABLESPACE takes whole: no FULLTEXT index (its auxiliary tables are not exported), no
    partitions, a name that is its file name."""
    rows = mysql(
        "SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = "
        f"{sql_string(database)} AND t.ENGINE = 'InnoDB' AND t.TABLE_TYPE = 'BASE TABLE' "
        "AND t.CREATE_OPTIONS NOT LIKE '%partitioned%' AND NOT EXISTS (SELECT 1 FROM "
        "information_schema.STATISTICS i WHERE i.TABLE_SCHEMA = t.TABLE_SCHEMA AND "
        "i.TABLE_NAME = t.TABLE_NAME AND i.INDEX_TYPE = 'FULLTEXT')").split()
    folder = datadir() / database
    return [t for t in tables if t in rows and re.fullmatch(r"[A-Za-z0-9_]{1,64}", t)
            and (folder / f"{t}.ibd").is_file()]


def datadir() -> Path:
    return Path(mysql("SELECT @@datadir").strip())


def copy_tablespaces(source_db: str, target_db: str, tables: list[str],
                     client: list[str]) -> None:
    """Each table created empty and its tablespace discarded by the target's user; the
    source's files copied under one ``FOR EXPORT`` lock; imported by the target's user."""
    if not tables:
        return
    head = "SET SESSION foreign_key_checks = 0;\n"
    run(client, input=(head + "".join(
        f"{create_statement(source_db, t)};\nALTER TABLE {ident(t)} DISCARD TABLESPACE;\n"
        for t in tables)).encode())
    source, target = datadir() / source_db, datadir() / target_db
    lock = subprocess.Popen(["mariadb", "--unbuffered", "--batch", "--skip-column-names",
                             source_db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert lock.stdin is not None and lock.stdout is not None and lock.stderr is not None
    try:
        lock.stdin.write(("SET SESSION lock_wait_timeout = 60;\nFLUSH TABLES "
                          + ", ".join(ident(t) for t in tables)
                          + " FOR EXPORT;\nSELECT 'exported';\n").encode())
        lock.stdin.flush()
        if lock.stdout.readline().strip() != b"exported":
            raise Failed(f"FLUSH TABLES … FOR EXPORT on {source_db} failed: "
                         + lock.stderr.read().decode(errors="replace")[-1500:])
        run(["cp", "--reflink=auto", "--preserve=mode,ownership", "--",
             *[str(source / f"{t}.{ext}") for t in tables for ext in ("ibd", "cfg")],
             str(target)])
    finally:
        with contextlib.suppress(BrokenPipeError):
            lock.stdin.write(b"UNLOCK TABLES;\n")
            lock.stdin.close()
        lock.wait()
    try:
        run(client, input=(head + "".join(f"ALTER TABLE {ident(t)} IMPORT TABLESPACE;\n"
                                          for t in tables)).encode())
    finally:
        for table in tables:
            with contextlib.suppress(FileNotFoundError):
                (target / f"{table}.cfg").unlink()
