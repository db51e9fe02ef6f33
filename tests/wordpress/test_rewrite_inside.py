"""URLs rewritten inside MariaDB (issue 15) write exactly what the replacer writes.

A same-server copy rewrites plain-text values with ``REGEXP_REPLACE`` steps the replacer
itself states (``sql_rewrites``) and sends only serialized values through the replacer. The
oracle is the replacer: thousands of generated values, full of near misses (longer hosts,
other schemes, upper case, escaped and doubled slashes, quotes, control bytes), are
rewritten both ways on a real MariaDB and must come out byte for byte the same; values
that may be serialized, or hold more URLs than REGEXP_REPLACE copes with, must be left
alone by the server."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys

import pytest

from pressluft_core.node.ctl.envctl import rewrite, sqlcopy
from pressluft_core.wordpress.search_replace import SQL_MAYBE_SERIALIZED, sql_rewrites
from tests.wordpress.stack import mysql

HOSTS = ["a.example", "a.example:8080", "d.example"]
AROUND = ["", " ", "'", '"', "\\", "\n", "\r", "\0", "\x1a", "ü", "%", "_", ".", "-", "x",
          "/", ":", "..", ".org", "-cdn", "/path?q=1", ":8080", ".\n", "0", "<a href=\""]
LEADS = ["http://", "https://", "//", "http:\\/\\/", "https:\\/\\/", "\\/\\/", "",
         "HTTP://", "ftp://", "xhttp://", "http:\\\\/\\\\/", "\\\\//", "http:/", "www.",
         "//www.", "http://sub."]
SERIALIZED_LEADS = ["a:1:{s:3:\"url\";s:", " s:9:\"", "\nO:8:\"", "a:", "E:3:\"", "C:1:"]

PAIR_SETS = [
    [("http://a.example", "http://b.example")],
    [("http://a.example", "https://staging.b.example:8443")],
    [("https://a.example:8080", "http://c.example"), ("http://d.example", "https://e.example")],
]
MANY_URLS_ID = 99_999
TABLE = ("CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT, b MEDIUMBLOB, "
         "s VARCHAR(400) CHARACTER SET latin1) DEFAULT CHARSET=utf8mb4 "
         "COLLATE=utf8mb4_unicode_ci")


def literal(value: str) -> str:
    escaped = (value.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0")
               .replace("\x1a", "\\Z"))
    return f"'{escaped}'"


def value(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 5)):
        parts += [rng.choice(AROUND), rng.choice(LEADS) + rng.choice(HOSTS),
                  rng.choice(AROUND)]
    text = "".join(parts)
    return (rng.choice(SERIALIZED_LEADS) + text) if rng.random() < 0.2 else text


@pytest.fixture(scope="module")
def databases() -> list[str]:
    if shutil.which("mariadb") is None:
        pytest.skip("no MariaDB here (scripts/test installs it)")
    try:
        mysql("SELECT 1")
    except subprocess.CalledProcessError:
        pytest.skip("MariaDB is not running (scripts/test starts it)")
    names = ["pl_rewrite_source", "pl_rewrite_server", "pl_rewrite_replacer"]
    for name in names:
        mysql(f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}; USE {name}; {TABLE}")
    rng = random.Random(15)
    rows = [f"({i}, {literal(value(rng))}, {literal(value(rng))}, {literal(value(rng))})"
            for i in range(3000)]
    mysql("INSERT INTO t VALUES " + ", ".join(rows), names[0])
    # 20,000 URLs in 380 KB: too many matches for REGEXP_REPLACE (each copies the value)
    mysql(f"INSERT INTO t VALUES ({MANY_URLS_ID}, REPEAT('http://a.example/x ', 20000), "
          "'', '')", names[0])
    yield names
    mysql("".join(f"DROP DATABASE IF EXISTS {name};" for name in names))


def table_rows(database: str) -> list[str]:
    return mysql("SELECT id, HEX(v), HEX(b), HEX(s) FROM t ORDER BY id", database).splitlines()


def left_for_replacer(database: str, pairs: list[tuple[str, str]]) -> list[list[bool]]:
    """Per row, per column (v, b, s): whether the server must leave the value alone (it may
    be serialized, or holds too many URLs)."""
    pattern = literal(SQL_MAYBE_SERIALIZED)
    hosts = [old.split("//", 1)[1] for old, _ in pairs]
    def left(column: str) -> str:
        count = " + ".join(f"(LENGTH({column}) - LENGTH(REPLACE({column}, '{h}', ''))) "
                           f"DIV {len(h)}" for h in hosts)
        return (f"({column} REGEXP {pattern} OR ({count}) * LENGTH({column}) > "
                f"{sqlcopy.INSIDE_WORK_LIMIT})")
    return [[flag == "1" for flag in line.split("\t")] for line in mysql(
        f"SELECT {left('v')}, {left('b')}, {left('s')} FROM t ORDER BY id",
        database).splitlines()]


@pytest.mark.parametrize("pairs", PAIR_SETS, ids=["same-scheme", "new-scheme-port", "two"])
def test_the_server_writes_what_the_replacer_writes_for_plain_values(
        databases: list[str], pairs: list[tuple[str, str]]) -> None:
    source, server, replacer = databases
    for name in (server, replacer):
        mysql(f"DELETE FROM t; INSERT INTO t SELECT * FROM {source}.t", name)
    steps = sql_rewrites(pairs)
    assert steps is not None
    needles = sqlcopy.url_needles([list(p) for p in pairs])
    mysql(rewrite.UPDATE_SESSION + sqlcopy.plain_update("t", ["v", "b", "s"], needles, steps,
                                                      SQL_MAYBE_SERIALIZED), server)
    dump = subprocess.run(["mysqldump", "--no-create-info", "--skip-extended-insert",
                           "--replace", source, "t"], capture_output=True, check=True).stdout
    rewritten = subprocess.run(
        [sys.executable, "-m", "pressluft_core.wordpress.search_replace", "--jobs", "1",
         *[s for p in pairs for s in p]], input=dump, capture_output=True, check=True).stdout
    subprocess.run(["mariadb", replacer], input=rewritten, check=True)

    flags = left_for_replacer(source, pairs)
    assert 1000 < sum(map(sum, flags)) < 4000  # both kinds are well represented
    if pairs[0][0] == "http://a.example":
        assert flags[-1][0], "the value with 20,000 URLs is the replacer's"
    original, by_server, by_replacer = (table_rows(d) for d in databases)
    changed = 0
    for row, before, ours, theirs in zip(flags, original, by_server, by_replacer,
                                         strict=True):
        cells = zip(row, *(line.split("\t")[1:] for line in (before, ours, theirs)),
                    strict=True)
        for column, (serial, was, now, wanted) in zip("vbs", cells, strict=True):
            where = f"row {before.split(chr(9))[0]} column {column}"
            if serial:
                assert now == was, f"{where} is the replacer's: the server left it"
            else:
                assert now == wanted, f"{where}: server and replacer differ"
                changed += now != was
    assert changed > 3000  # the rewrite did happen, in most plain values


@pytest.mark.parametrize("pairs", [
    [("http://a.example/blog", "http://b.example")],      # a path: not promised
    [("http://a.example", "http://a.example.staging.b")],  # the old host in the new URL
    [("a.example", "b.example")],                          # not URLs
    [("http://a.example", "http://b"), ("http://www.a.example", "http://c")],  # nested
])
def test_pairs_the_server_cannot_rewrite_exactly_go_to_the_replacer(
        pairs: list[tuple[str, str]]) -> None:
    assert sql_rewrites(pairs) is None
