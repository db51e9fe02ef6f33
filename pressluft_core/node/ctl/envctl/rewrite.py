"""Same-server copies, the rewrite: tables copied inside MariaDB, plain-text URLs rewritten
there, serialized values through the replacer, the rest through ``mysqldump | replacer``.
"""

from __future__ import annotations

import subprocess
import tempfile
import time

from .._common import Failed, say, sql_string
from ..replacer.cli import SQL_MAYBE_SERIALIZED, sql_rewrites
from .env import Env, EnvironmentDatabase
from .sqlcopy import (
    COPY_SESSIONS,
    catalogue,
    copy_plan,
    copy_tablespaces,
    create_statement,
    holding,
    ident,
    left_for_replacer,
    plain_update,
    reading,
    tablespace_tables,
    url_needles,
)


def copy_database(source_db: str, env: Env, target_db: str, tables: list[str],
                  replacer: list[str], pairs: list[list[str]]) -> None:
    """``tables`` of ``source_db`` into the empty ``target_db`` of ``env``, on this server,
    URLs rewritten (see the section's comment)."""
    inside, dumped = copy_plan(source_db, tables)
    shapes = catalogue(source_db)
    started = time.monotonic()
    target = EnvironmentDatabase(env, target_db)
    with target as client:
        dumping = start_dump_path(source_db, dumped, replacer, pairs, target, client)
        try:
            as_files = tablespace_tables(source_db, inside)
            copy_tablespaces(source_db, target_db, as_files, client)
            by_rows = [t for t in inside if t not in as_files]
            if by_rows:
                with reading(env.db_name, source_db):
                    copy_inside(source_db, by_rows, shapes, client)
        finally:
            finish_dump_path(dumping)
        say(f"copied {len(inside)} tables inside MariaDB ({len(as_files)} as tablespace "
            f"files, {len(by_rows)} by INSERT … SELECT) in "
            f"{time.monotonic() - started:.1f} s" + (
                f", {len(dumped)} through the dump path ({', '.join(dumped)})"
                if dumped else ""))
        if pairs:
            rewrite_rows(target_db, inside, shapes, pairs, replacer, target, client)


def copy_inside(source_db: str, tables: list[str], shapes: dict[str, dict],
                client: list[str]) -> None:
    """CREATE TABLE + INSERT … SELECT per table, as the target's MariaDB user, in
    ``COPY_SESSIONS`` sessions side by side (the largest tables spread first)."""
    sessions: list[list[str]] = [[] for _ in range(COPY_SESSIONS)]
    loads = [0] * COPY_SESSIONS
    for table in sorted(tables, key=lambda t: -shapes[t]["bytes"]):
        lightest = loads.index(min(loads))
        columns = ", ".join(ident(c) for c in shapes[table]["columns"])
        sessions[lightest].append(
            f"{create_statement(source_db, table)};\n"
            f"INSERT INTO {ident(table)} ({columns}) SELECT {columns} FROM "
            f"{ident(source_db)}.{ident(table)};\n")
        loads[lightest] += shapes[table]["bytes"] + 1
    # mysqldump's own session settings: zero stays a value in an AUTO_INCREMENT column,
    # no strict mode, keys checked as the data was checked in the source.
    head = ("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;\n"
            "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO', foreign_key_checks = 0, "
            "unique_checks = 0;\n")
    running = []
    for statements in sessions:
        if statements:
            with tempfile.TemporaryFile() as script:
                script.write((head + "".join(statements)).encode())
                script.seek(0)
                running.append(subprocess.Popen(client, stdin=script,
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE))
    errors = [proc.communicate()[1] for proc in running]
    for proc in running:
        if proc.returncode != 0:
            raise Failed("copying tables inside MariaDB failed: "
                         + errors[running.index(proc)].decode(errors="replace")[-1500:])


def start_dump_path(source_db: str, tables: list[str], replacer: list[str],
                    pairs: list[list[str]], target: EnvironmentDatabase, client: list[str]
                    ) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """``mysqldump <tables> | replacer | mariadb`` for the tables the server cannot copy
    and rewrite by key; mysqldump reads as root, the rest runs as the environment."""
    if not tables:
        return []
    dump = subprocess.Popen(
        ["mysqldump", "--single-transaction", "--quick", "--skip-lock-tables",
         "--no-tablespaces", "--default-character-set=utf8mb4", source_db, *tables],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rewrite = subprocess.Popen(
        [*target.as_user(), *replacer, *[s for p in pairs for s in p]],
        stdin=dump.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.Popen(client, stdin=rewrite.stdout, stderr=subprocess.PIPE)
    assert dump.stdout is not None and rewrite.stdout is not None
    dump.stdout.close()
    rewrite.stdout.close()
    return [("mariadb import", load), ("replacer", rewrite), ("mysqldump", dump)]


def finish_dump_path(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    errors = [(name, proc, proc.communicate()[1]) for name, proc in procs]
    for name, proc, err in reversed(errors):
        if proc.returncode != 0:
            raise Failed(f"dump path: {name} exited {proc.returncode}: "
                         f"{err.decode(errors='replace')[-2000:]}")


def rewrite_rows(database: str, tables: list[str], shapes: dict[str, dict],
                 pairs: list[list[str]], replacer: list[str], target: EnvironmentDatabase,
                 client: list[str]) -> None:
    """Only the rows of ``database`` whose text columns hold an old host are rewritten.
    Values that are plain text are rewritten by the server itself (``plain_update``) where
    the replacer can say how (``sql_rewrites``); the rest (serialized values, or every
    value when it cannot) go through the replacer: ``mysqldump --replace --where`` of
    those rows | replacer | mariadb, each row written back over itself by its primary key.
    Every other row stays as the server copied it, byte for byte."""
    needles = url_needles(pairs)
    texts = {t: shapes[t]["text"] for t in tables if shapes[t]["text"]}
    if not texts:
        return
    steps = sql_rewrites([(old, new) for old, new in pairs])
    left = left_for_replacer(SQL_MAYBE_SERIALIZED, needles) if steps else None
    conditions = {t: holding(c, needles, left) for t, c in texts.items()}
    # The rows the replacer takes are counted (read-only, a snapshot of its own) while
    # the server rewrites the plain values of others: no value is in both sets.
    counting = start_script(client, "".join(
        f"SELECT {sql_string(t)}, COUNT(*) FROM {ident(t)} WHERE {c};\n"
        for t, c in conditions.items()))
    try:
        updated = update_plain_values(texts, shapes, needles, steps, SQL_MAYBE_SERIALIZED,
                                      client) if steps else {}
    finally:
        counted, count_err = counting.communicate()
    if counting.returncode != 0:
        raise Failed("counting the rows with old URLs failed: "
                     + count_err.decode(errors="replace")[-1500:])
    rows = {t: int(n) for t, n in
            (line.rsplit("\t", 1) for line in counted.decode().splitlines())}
    matching = [t for t in conditions if rows.get(t)]
    if matching:
        replace_rows(database, matching, conditions, pairs, replacer, target, client)
    inside = sum(updated.values())
    # A row may be in both counts: its plain values changed inside, its serialized ones not.
    say(f"URLs rewritten: {inside} rows changed inside MariaDB, {sum(rows.values())} rows "
        f"through the replacer, in "
        f"{len(set(matching) | {t for t, n in updated.items() if n})} tables")


def update_plain_values(texts: dict[str, list[str]], shapes: dict[str, dict],
                        needles: list[str], steps: list[tuple[str, str]], serialized: str,
                        client: list[str]) -> dict[str, int]:
    """``plain_update`` of every table, in ``COPY_SESSIONS`` sessions side by side (the
    largest tables spread first); rows changed per table."""
    sessions: list[list[str]] = [[] for _ in range(COPY_SESSIONS)]
    loads = [0] * COPY_SESSIONS
    for table in sorted(texts, key=lambda t: -shapes[t]["bytes"]):
        lightest = loads.index(min(loads))
        sessions[lightest].append(table)
        loads[lightest] += shapes[table]["bytes"] + 1
    running = [start_script(client, UPDATE_SESSION + "".join(
        plain_update(t, texts[t], needles, steps, serialized) for t in tables))
        for tables in sessions if tables]
    outputs = [proc.communicate() for proc in running]
    updated: dict[str, int] = {}
    for proc, (out, err) in zip(running, outputs, strict=True):
        if proc.returncode != 0:
            raise Failed("rewriting URLs inside MariaDB failed: "
                         + err.decode(errors="replace")[-1500:])
        for line in out.decode().splitlines():
            table, rows, warnings = line.rsplit("\t", 2)
            if int(warnings):
                raise Failed(f"rewriting URLs inside MariaDB left {warnings} warning(s) on "
                             f"table {table}: a value may not have been rewritten")
            updated[table] = int(rows)
    return updated


def start_script(client: list[str], script: str) -> subprocess.Popen[bytes]:
    """``client`` running ``script`` (from a file: nothing waits on a pipe to take it),
    its rows as tab-separated lines on stdout."""
    with tempfile.TemporaryFile() as source:
        source.write(script.encode())
        source.seek(0)
        return subprocess.Popen([*client[:-1], "--batch", "--skip-column-names", client[-1]],
                                stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# The copy's session settings for rewriting rows in place: strict (a rewritten value that
# no longer fits its column is an error, not a truncation), keys not re-checked (the rows
# were checked in the source; ON UPDATE actions must not reach other tables).
UPDATE_SESSION = ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO', "
                  "foreign_key_checks = 0;\n")


def replace_rows(database: str, tables: list[str], conditions: dict[str, str],
                 pairs: list[list[str]], replacer: list[str], target: EnvironmentDatabase,
                 client: list[str]) -> None:
    """The rows of ``tables`` matching their condition, through the replacer and written
    back over themselves by primary key."""
    rewrite = subprocess.Popen([*target.as_user(), *replacer,
                                *[s for p in pairs for s in p]],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    load = subprocess.Popen(client, stdin=rewrite.stdout, stderr=subprocess.PIPE)
    assert rewrite.stdin is not None and rewrite.stdout is not None
    rewrite.stdout.close()
    dump_argv = [*target.dump(), "--single-transaction", "--quick",
                 "--skip-lock-tables", "--no-tablespaces", "--no-create-info",
                 "--skip-triggers", "--replace", "--skip-disable-keys",
                 "--skip-add-locks"]
    failed = None
    try:
        for table in tables:
            dump = subprocess.run([*dump_argv, f"--where={conditions[table]}", database,
                                   table], stdout=rewrite.stdin, stderr=subprocess.PIPE,
                                  check=False)
            if dump.returncode != 0:
                failed = (f"mysqldump of {table}'s rows with old URLs exited "
                          f"{dump.returncode}: "
                          f"{dump.stderr.decode(errors='replace')[-1500:]}")
                break
    finally:
        rewrite.stdin.close()
        rewrite_err = rewrite.stderr.read() if rewrite.stderr else b""
        rewrite.wait()
        load_err = load.communicate()[1]
    if failed:
        raise Failed(failed)
    if rewrite.returncode != 0 or load.returncode != 0:
        raise Failed(f"rewriting rows with old URLs failed (replacer exited "
                     f"{rewrite.returncode}, mariadb {load.returncode}): "
                     + (rewrite_err + load_err).decode(errors="replace")[-1500:])
