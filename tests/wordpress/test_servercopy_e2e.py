"""Same-server copies (issue 15) on the real stack: a clone copies tables inside MariaDB and
sends only the rows holding production's URL through the replacer; a table without a
primary key takes the dump path; every row without the URL arrives byte for byte. A
promotion under a steady stream of writes to production's protected tables keeps every
row written."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import pytest

from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.models import Environment
from tests.s3server import S3Server, s3_server
from tests.wordpress.stack import Stack, http_get, mysql

__all__ = ["s3_server"]

# A plugin's log table with no primary key: its rows cannot be written back by key.
NO_KEY_TABLE = ("CREATE TABLE wp_e2e_links (source VARCHAR(200), payload LONGTEXT, "
                "hits INT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


def sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def serialized(url: str) -> str:
    inner = f'a:1:{{s:3:"src";s:{len(url + "/a.png")}:"{url}/a.png";}}'
    return (f'a:3:{{s:4:"logo";s:{len(url + "/logo.png")}:"{url}/logo.png";'
            f's:6:"nested";s:{len(inner.encode())}:"{inner}";s:4:"note";s:3:"ü!";}}')


def json_escaped(url: str) -> str:
    return json.dumps({"link": url + "/shop", "img": url + "/i.jpg"}).replace("/", "\\/")


def rows_without(db: str, host: str) -> list[bytes]:
    """Every row of every table in which no column holds ``host``, as mysqldump writes it
    (one INSERT per row, sorted: a table without a key has no order)."""
    tables = mysql("SHOW TABLES", db).split()
    rows: list[bytes] = []
    for table in tables:
        columns = mysql("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                        f"TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}' AND DATA_TYPE IN "
                        "('char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', "
                        "'blob', 'longblob', 'mediumblob')", db).split()
        where = " AND ".join(f"COALESCE(`{c}`, '') NOT LIKE BINARY '%{host}%'"
                             for c in columns) or "1"
        dump = subprocess.run(["mysqldump", "--no-create-info", "--skip-extended-insert",
                               "--compact", "--skip-comments", f"--where={where}", db, table],
                              capture_output=True, check=True).stdout
        rows += [line for line in dump.splitlines() if line.startswith(b"INSERT INTO")]
    return sorted(rows)


def changes_on_its_own(row: bytes) -> bool:
    """Options the clone sets (``blog_public``: quarantine) or WordPress rewrites on any
    request (transients, cron), which the clone's health check made."""
    return row.startswith(b"INSERT INTO `wp_options`") and any(
        name in row for name in (b"'blog_public'", b"'cron'", b"_transient_"))


@pytest.fixture(scope="module")
def pair(stack: Stack) -> tuple[Environment, Environment, str]:
    """Production with URLs (plain, serialized, nested serialized, JSON-escaped) in options,
    postmeta and a table without a primary key, and many rows without any; then cloned."""
    job = stack.core.sites.create(stack.token, "Copy Shop", "copyshop", node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    prod = stack.env("copyshop", "production")
    db, url = node_names(prod.id), prod.preview_url
    options = ", ".join(
        f"('e2e_opt_{n}', {sql_literal(value)}, 'no')" for n, value in enumerate(
            [serialized(url), json_escaped(url), f"see {url}/about", "no link here",
             'a:1:{s:4:"name";s:5:"plain";}', "https:\\/\\/elsewhere.example\\/x"]))
    meta = ", ".join(f"(1, 'e2e_meta_{n}', {sql_literal(value)})" for n, value in enumerate(
        [serialized(url), json_escaped(url)] + [f"value {n} without a link" for n in
                                                range(500)]))
    links = ", ".join(f"({sql_literal(src)}, {sql_literal(payload)}, {n})" for n, (src, payload)
                      in enumerate([(url, serialized(url)), ("local", json_escaped(url)),
                                    ("other", "nothing"), ("other", "nothing")]))
    mysql(f"INSERT INTO wp_options (option_name, option_value, autoload) VALUES {options};\n"
          f"INSERT INTO wp_postmeta (post_id, meta_key, meta_value) VALUES {meta};\n"
          f"{NO_KEY_TABLE};\nINSERT INTO wp_e2e_links VALUES {links};", db)
    job = stack.core.environments.clone(stack.token, "copyshop", "production", "Staging",
                                        "staging")
    done = stack.run(job.id)
    assert done.status == "succeeded", stack.log(job.id)
    return prod, stack.env("copyshop", "staging"), stack.log(job.id)


def test_a_clone_keeps_no_old_url_and_every_other_row_byte_for_byte(
        pair: tuple[Environment, Environment, str]) -> None:
    prod, staging, _ = pair
    pdb, sdb = node_names(prod.id), node_names(staging.id)
    old_host = prod.preview_url.split("://")[1]
    new_host = staging.preview_url.split("://")[1]
    dump = subprocess.run(["mysqldump", sdb], capture_output=True, check=True).stdout
    assert old_host.encode() not in dump
    assert old_host.replace(".", "\\.").encode() not in dump
    # The rewritten values, lengths recomputed (nested too), JSON escaping kept.
    for table, where, column in (("wp_options", "option_name = 'e2e_opt_0'", "option_value"),
                                 ("wp_postmeta", "meta_key = 'e2e_meta_0'", "meta_value"),
                                 ("wp_e2e_links", "hits = 0", "payload")):
        got = mysql(f"SELECT {column} FROM {table} WHERE {where}", sdb).rstrip("\n")
        assert got == serialized(staging.preview_url), (table, got)
    for table, where, column in (("wp_options", "option_name = 'e2e_opt_1'", "option_value"),
                                 ("wp_postmeta", "meta_key = 'e2e_meta_1'", "meta_value"),
                                 ("wp_e2e_links", "hits = 1", "payload")):
        got = mysql(f"SELECT {column} FROM {table} WHERE {where}", sdb).rstrip("\n")
        assert got == json_escaped(staging.preview_url), (table, got)
    assert mysql("SELECT source FROM wp_e2e_links WHERE hits = 0", sdb).strip() == \
        staging.preview_url
    # Every row that did not hold production's host is the same bytes in the clone (where
    # no row held staging's host before), and the same number of rows held a host.
    assert new_host.encode() not in subprocess.run(["mysqldump", pdb], capture_output=True,
                                                   check=True).stdout
    before, after = rows_without(pdb, old_host), rows_without(sdb, new_host)
    assert len(before) > 500
    assert [row for row in before if not changes_on_its_own(row)] == \
        [row for row in after if not changes_on_its_own(row)]
    for table in mysql("SHOW TABLES", pdb).split():
        count = f"SELECT COUNT(*) FROM `{table}`"
        assert mysql(count, pdb) == mysql(count, sdb), table
    assert http_get(staging.preview_url)[0] == 200


def test_the_clone_copied_inside_mariadb_and_its_user_keeps_no_grant_on_production(
        pair: tuple[Environment, Environment, str]) -> None:
    prod, staging, job_log = pair
    assert "tables inside MariaDB" in job_log and "through the dump path (wp_e2e_links)" \
        in job_log, job_log
    counts = re.search(r"URLs rewritten: (\d+) rows changed inside MariaDB, (\d+) rows "
                       r"through the replacer", job_log)
    # posts' plain links are rewritten by the server, serialized options by the replacer
    assert counts and int(counts.group(1)) > 0 and int(counts.group(2)) > 0, job_log
    as_files = re.search(r"\((\d+) as tablespace files", job_log)
    assert as_files and int(as_files.group(1)) >= 10, job_log
    grants = mysql(f"SHOW GRANTS FOR '{node_names(staging.id)}'@'localhost'")
    assert node_names(prod.id) not in grants.replace("\\_", "_"), grants


def test_a_promotion_under_steady_writes_to_production_keeps_every_protected_row(
        stack: Stack, pair: tuple[Environment, Environment, str], s3_server: S3Server) -> None:
    prod, staging, _ = pair
    core, token = stack.core, stack.token
    s3_server.configure(core, token)
    pdb, sdb = node_names(prod.id), node_names(staging.id)
    mysql("UPDATE wp_options SET option_value = 'Promoted Copy' WHERE option_name = "
          "'blogname'", sdb)
    written: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            marker = f"steady-{number}"
            try:
                mysql("INSERT INTO wp_comments (comment_post_ID, comment_author, "
                      "comment_date, comment_date_gmt, comment_content, comment_approved, "
                      f"comment_type) VALUES (1, 'Load', NOW(), NOW(), '{marker}', '1', "
                      f"'comment'); INSERT INTO wp_postmeta (post_id, meta_key, meta_value) "
                      f"VALUES (1, 'steady', '{marker}')", pdb)
                written.append(marker)
            except subprocess.CalledProcessError as exc:
                failures.append(exc.stderr.decode(errors="replace"))
            time.sleep(0.02)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        job = core.promotion.drift(token, "copyshop", "staging")
        assert stack.run(job.id).status == "succeeded", stack.log(job.id)
        job = core.promotion.promote(token, "copyshop", "staging", confirm="copyshop")
        done = stack.run(job.id)
    finally:
        stop.set()
        thread.join()
    assert done.status == "succeeded", stack.log(job.id)
    assert not failures, failures[:3]
    assert len(written) > 20
    comments = set(mysql("SELECT comment_content FROM wp_comments WHERE comment_author = "
                         "'Load'", pdb).split())
    meta = set(mysql("SELECT meta_value FROM wp_postmeta WHERE meta_key = 'steady'",
                     pdb).split())
    assert set(written) <= comments and set(written) <= meta
    assert mysql("SELECT option_value FROM wp_options WHERE option_name = 'blogname'",
                 pdb).strip() == "Promoted Copy"
    dump = subprocess.run(["mysqldump", pdb], capture_output=True, check=True).stdout
    assert staging.preview_url.split("://")[1].encode() not in dump
    assert http_get(prod.preview_url)[0] == 200
