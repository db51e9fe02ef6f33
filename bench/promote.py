"""``python -m bench promote``: a drift check plus a promotion of staging into production
through Pressluft's real ``drift_check`` and ``env_promote`` jobs, against the bare table
copy a shell user would make, same node, same data, same run; and whether production
answered anything but 200 meanwhile.

``python -m bench promote [--json] [--db-mb 200] [--repeat 3]``

Needs root and this machine's stack (sshd on loopback, MariaDB, nginx, PHP-FPM, WordPress
files, as scripts/test sets them up) and moto (``python -m moto.server``, started here in a
process of its own: the promotion's backup goes to S3; its objects are deleted after each
round).

Setup (not timed): a site with the ``content-protect`` preset (posts, postmeta, terms,
term_taxonomy, term_relationships, comments, commentmeta protected; everything else
promoted). Production is filled with a WordPress-like dump of ``--db-mb`` MB
(``bench/_wpdump.py``'s rows, URLs production's) whose bytes are mostly in tables a
promotion copies: 70 % unprotected — ``wp_bench_builder_meta`` (a page-builder plugin's
meta table: postmeta's schema, serialized attachment data, Elementor-style JSON with
escaped URLs, menu URLs; 33 %), ``wp_actionscheduler_logs`` (20 %), ``wp_wc_order_stats``
(12 %, not protected by this preset), ``wp_options`` (5 %: transients, serialized theme
mods and widgets with URLs; set ``autoload = 'no'`` after loading, or WordPress would load
10 MB of options per request) — and 30 % protected (posts 17 %, postmeta 8 %, comments
5 %). Then production is cloned to ``staging`` by Pressluft (``env_create``: URLs rewritten
to staging's, the drift baseline recorded).

Each of ``--repeat`` rounds (default 3; who goes first swaps every round, the fastest of
each counts): staging gets a new ``blogname`` and one changed row in the builder table;
production gets a new comment (protected: it must survive). Dirty pages are written back
(``sync``) before each timed part.
- Pressluft, timed: ``promotion.drift`` (the ``drift_check`` job), then — not timed — a
  full production backup, then ``promotion.promote(..., confirm=<site slug>)`` (the
  ``env_promote`` job), which therefore reuses that backup (the service uses a completed
  full production backup newer than the drift check) instead of taking one: the time is
  drift check + promotion without the backup step. Each job runs in a fresh worker in this
  process, from enqueue to success. Checked after: staging's blogname and changed row are
  in production, production's comment too, production's URL and not staging's in the
  builder table, production still answers 200.
- Baseline, timed: ``mysqldump --single-transaction --quick <staging db> <every table the
  promotion copies> | mariadb <scratch>``, where the scratch database already holds a copy
  of those tables of production (made before the clock starts), so the load drops and
  recreates them as a load into production's own database would — but production is not
  disturbed (no staging URLs in it, no tables dropped under the probe). No URL rewrite, no
  code release, no checksums, no swap, no health check, no SSH.
- Probe: a thread GETs production's preview URL from nginx on 127.0.0.1:80 (Host header =
  the preview host) every 50 ms from before the drift check until the promotion has ended
  (the untimed backup in between included). ``max_non_200_ms``: the longest stretch from
  a request that did not answer 200 to the next request that did (target 0);
  ``probe_requests`` and the non-200 answers seen, and the slowest answer. Each request
  renders WordPress's front page (~0.1-0.2 s of PHP and MariaDB on this machine), so the
  probe keeps about one core busy: it runs during the timed baseline copy too (against
  production, which that copy does not touch), so both sides share a node equally busy.

Figures: ``ratio`` = (drift check + promotion) / baseline (target ≤ 0.5), the three
times, per-step seconds of both jobs (from their ``----`` step markers, the tables step
split where the job has listed the source's tables), the sizes (dump MB, per table the
InnoDB MB of production's copied and protected tables), every round's times, the node's
CPU count and load average.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import _wpdump
from bench._report import report
from bench._s3 import empty_bucket, s3_server, use_storage
from bench._stack import NODE, JobRun, Stack, real_stack
from bench.clone import PLUGIN_TABLES, dump_url, mysql, settle
from pressluft_core.jobs.handlers.envctl import canonical_url, node_names
from pressluft_core.models import Environment
from pressluft_core.wordpress.presets import protected_tables

SITE = "bench"
PRESET = "content-protect"
BUILDER = "wp_bench_builder_meta"
BUILDER_TABLE = f"""
CREATE TABLE IF NOT EXISTS {BUILDER} (
  meta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  post_id bigint(20) unsigned NOT NULL DEFAULT 0, meta_key varchar(255) DEFAULT NULL,
  meta_value longtext, PRIMARY KEY (meta_id), KEY post_id (post_id),
  KEY meta_key (meta_key(191))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
"""
# (table, row factory name in _wpdump._Rows, share of the dump's bytes); posts first, as
# their ids start at 2 (WordPress's sample post is 1).
SHARES = (("wp_posts", "post", 0.17), ("wp_postmeta", "postmeta", 0.08),
          ("wp_options", "option", 0.05), ("wp_comments", "comment", 0.05),
          ("wp_actionscheduler_logs", "log", 0.20), ("wp_wc_order_stats", "order_stat", 0.12),
          (BUILDER, "postmeta", 0.33))


# -- production's data -------------------------------------------------------------------

def generate(path: Path, size_mb: float, url: str, seed: int = 11) -> int:
    """A mysqldump-like file of ~``size_mb`` MB with SHARES' proportions, links to ``url``;
    its size in bytes."""
    with dump_url(url):
        rows = _wpdump._Rows(random.Random(seed))
        total = int(size_mb * 1_000_000)
        with path.open("w", encoding="utf-8", newline="\n") as out:
            out.write("/*!40101 SET NAMES utf8mb4 */;\n")
            for table, factory, share in SHARES:
                out.write(f"LOCK TABLES `{table}` WRITE;\n")
                for line in _wpdump._inserts(table, getattr(rows, factory), int(total * share)):
                    out.write(line)
                out.write("UNLOCK TABLES;\n")
    return path.stat().st_size


def fill_database(env: Environment, dump: Path, size_mb: float) -> int:
    db = node_names(env.id)
    size = generate(dump, size_mb, canonical_url(env))
    last_option = int(mysql("SELECT MAX(option_id) FROM wp_options", db))
    mysql(PLUGIN_TABLES + BUILDER_TABLE + "DELETE FROM wp_postmeta WHERE post_id >= 2;\n"
          "DELETE FROM wp_posts WHERE ID >= 2;\n", db)
    with dump.open("rb") as source:
        subprocess.run(["mariadb", "--default-character-set=utf8mb4", db], stdin=source,
                       check=True)
    dump.unlink()
    mysql(f"UPDATE wp_options SET autoload = 'no' WHERE option_id > {last_option}", db)
    return size


def table_mb(db: str) -> dict[str, float]:
    tables = mysql("SHOW TABLES", db).split()
    mysql("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables), db)
    rows = mysql("SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
                 f"WHERE TABLE_SCHEMA = '{db}'", db).splitlines()
    return {name: int(size) / 1e6 for name, size in (row.split("\t") for row in rows)}


def copied_tables(db: str) -> list[str]:
    """The tables a promotion copies: every table of the source outside the preset."""
    protected = {f"wp_{name}" for name in protected_tables(PRESET)}
    return [t for t in mysql("SHOW TABLES", db).split() if t not in protected]


# -- the probe -----------------------------------------------------------------------------

def http_status(host: str) -> int:
    """GET / from nginx on 127.0.0.1:80 with ``host``: the status, 0 when nginx closed
    without answering, -1 when the connection failed."""
    try:
        with socket.create_connection(("127.0.0.1", 80), timeout=30) as conn:
            conn.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                         .encode())
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    except OSError:
        return -1
    raw = b"".join(chunks)
    return int(raw.split(b" ", 2)[1]) if raw else 0


@dataclass
class Probe:
    """GET production every 50 ms while the block runs: (sent, answered, status) each."""
    host: str
    seen: list[tuple[float, float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.perf_counter()
            status = http_status(self.host)
            self.seen.append((sent, time.perf_counter(), status))
            time.sleep(0.05)

    def longest_outage_ms(self) -> float:
        """The longest stretch from a request that did not answer 200 to the next request
        that did (to the last answer, when none did)."""
        longest, since = 0.0, None
        for sent, _answered, status in self.seen:
            if status != 200 and since is None:
                since = sent
            elif status == 200 and since is not None:
                longest, since = max(longest, sent - since), None
        if since is not None:
            longest = max(longest, self.seen[-1][1] - since)
        return round(longest * 1000, 1)


# -- one round -----------------------------------------------------------------------------

def steps(run: JobRun, splits: tuple[tuple[str, str], ...] = ()) -> dict[str, float]:
    """Seconds per job step (``----`` marker to the next); a line starting with a
    ``splits`` prefix ends the current part under the given name."""
    parts: dict[str, float] = {}
    current, start = "enqueue and claim", 0.0
    for line in run.lines:
        if line.tag == "----":
            parts[current] = parts.get(current, 0.0) + line.at - start
            current, start = line.text.split(": ", 1)[-1], line.at
            continue
        for prefix, name in splits:
            if line.text.startswith(prefix):
                parts[name] = line.at - start
                current, start = f"{current.split(' (')[0]} (rest)", line.at
    parts[current] = parts.get(current, 0.0) + run.seconds - start
    return {name: round(seconds, 2) for name, seconds in parts.items()}


TABLE_SPLITS = (("copying ", "list the source's tables (checksums over SSH)"),)


@dataclass
class Ours:
    drift: JobRun
    promote: JobRun
    backup_seconds: float
    outage_ms: float
    requests: int
    non_200: list[int]
    slowest_ms: float

    @property
    def seconds(self) -> float:
        return self.drift.seconds + self.promote.seconds


def pressluft(stack: Stack, bucket: str, server, number: int) -> Ours:  # type: ignore[no-untyped-def]
    production, staging = stack.env(SITE, "production"), stack.env(SITE, "staging")
    pdb, sdb = node_names(production.id), node_names(staging.id)
    marker = f"Promoted round {number} {uuid.uuid4().hex[:6]}"
    mysql(f"UPDATE wp_options SET option_value = '{marker}' WHERE option_name = 'blogname';"
          f"UPDATE {BUILDER} SET meta_key = '{marker}' ORDER BY meta_id LIMIT 1", sdb)
    mysql("INSERT INTO wp_comments (comment_post_ID, comment_author, comment_date, "
          "comment_date_gmt, comment_content, comment_approved, comment_type) VALUES "
          f"(1, 'Live', NOW(), NOW(), '{marker}', '1', 'comment')", pdb)
    host = production.preview_url.split("://", 1)[1].split("/", 1)[0]
    settle()
    with Probe(host) as probe:
        drift = stack.run(lambda: stack.core.promotion.drift(stack.token, SITE, "staging"))
        started = time.perf_counter()
        stack.run(lambda: stack.core.backups.create(stack.token, SITE, "production", "full"))
        settle()
        backup_seconds = time.perf_counter() - started
        promote = stack.run(lambda: stack.core.promotion.promote(stack.token, SITE, "staging",
                                                                 confirm=SITE))
        time.sleep(0.3)
    empty_bucket(server, bucket)
    check_promotion(production, staging, marker)
    statuses = [status for _, _, status in probe.seen]
    return Ours(drift, promote, backup_seconds, probe.longest_outage_ms(), len(statuses),
                sorted({s for s in statuses if s != 200}),
                round(max(answered - sent for sent, answered, _ in probe.seen) * 1000, 1))


def check_promotion(production: Environment, staging: Environment, marker: str) -> None:
    pdb = node_names(production.id)
    if mysql("SELECT option_value FROM wp_options WHERE option_name = 'blogname'",
             pdb).strip() != marker:
        raise RuntimeError("promotion: staging's blogname is not in production")
    if int(mysql(f"SELECT COUNT(*) FROM {BUILDER} WHERE meta_key = '{marker}'", pdb)) != 1:
        raise RuntimeError(f"promotion: staging's changed {BUILDER} row is not in production")
    if int(mysql(f"SELECT COUNT(*) FROM wp_comments WHERE comment_content = '{marker}'",
                 pdb)) != 1:
        raise RuntimeError("promotion: production's new comment (protected) is gone")
    ours, theirs = (canonical_url(env).split("://", 1)[1] for env in (production, staging))
    linking = f"SELECT COUNT(*) FROM {BUILDER} WHERE meta_value LIKE '%{{}}%'"
    if int(mysql(linking.format(theirs), pdb)) or not int(mysql(linking.format(ours), pdb)):
        raise RuntimeError(f"promotion: {BUILDER} still links to {theirs}, or not to {ours}")
    host = production.preview_url.split("://", 1)[1].split("/", 1)[0]
    if http_status(host) != 200:
        raise RuntimeError("promotion: production does not answer 200")


def baseline(source_db: str, production_db: str, tables: list[str], host: str
             ) -> tuple[float, int]:
    """``mysqldump <source> <tables> | mariadb <scratch>``, the scratch database holding a
    copy of production's same tables first (not timed), with the probe requesting
    production meanwhile as during ours: (seconds, probe requests)."""
    scratch = f"plbench_{uuid.uuid4().hex[:10]}"
    mysql(f"CREATE DATABASE `{scratch}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        copy(production_db, scratch, tables)
        settle()
        with Probe(host) as probe:
            started = time.perf_counter()
            copy(source_db, scratch, tables)
            seconds = time.perf_counter() - started
        return seconds, len(probe.seen)
    finally:
        mysql(f"DROP DATABASE IF EXISTS `{scratch}`")


def copy(source_db: str, target_db: str, tables: list[str]) -> None:
    dump = subprocess.Popen(["mysqldump", "--single-transaction", "--quick", source_db,
                             *tables], stdout=subprocess.PIPE)
    assert dump.stdout is not None
    load = subprocess.run(["mariadb", target_db], stdin=dump.stdout, check=False)
    dump.stdout.close()
    if dump.wait() != 0 or load.returncode != 0:
        raise RuntimeError(f"baseline: mysqldump exited {dump.returncode}, mariadb "
                           f"{load.returncode}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench promote")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db-mb", type=float, default=200,
                        help="size of the generated dump loaded into production")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of both; the fastest of each counts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pressluft-bench-promote-") as tmp, \
            s3_server() as server, real_stack(Path(tmp) / "home") as stack:
        bucket = use_storage(stack, server)
        stack.run(lambda: stack.core.sites.create(stack.token, "Bench", SITE, node=NODE,
                                                  promotion_preset=PRESET))
        production = stack.env(SITE, "production")
        dump_bytes = fill_database(production, Path(tmp) / "dump.sql", args.db_mb)
        stack.run(lambda: stack.core.environments.clone(stack.token, SITE, "production",
                                                        "Staging", "staging"))
        staging = stack.env(SITE, "staging")
        pdb, sdb = node_names(production.id), node_names(staging.id)
        tables = copied_tables(sdb)
        sizes = table_mb(pdb)
        host = production.preview_url.split("://", 1)[1].split("/", 1)[0]
        ours: list[Ours] = []
        bare: list[tuple[float, int]] = []
        for number in range(args.repeat):
            pressluft_first = number % 2 == 0
            if pressluft_first:
                ours.append(pressluft(stack, bucket, server, number))
            bare.append(baseline(sdb, pdb, tables, host))
            if not pressluft_first:
                ours.append(pressluft(stack, bucket, server, number))
    fastest = min(ours, key=lambda run: run.seconds)
    floor = min(seconds for seconds, _ in bare)
    copied_mb = sum(mb for table, mb in sizes.items() if table in tables)
    result = {
        "ratio": round(fastest.seconds / floor, 3),
        "pressluft_seconds": round(fastest.seconds, 2),
        "drift_check_seconds": round(fastest.drift.seconds, 2),
        "promotion_seconds": round(fastest.promote.seconds, 2),
        "baseline_seconds": round(floor, 2),
        "max_non_200_ms": max(run.outage_ms for run in ours),
        "probe_requests": sum(run.requests for run in ours),
        "probe_non_200_statuses": sorted({s for run in ours for s in run.non_200}),
        "probe_slowest_ms": max(run.slowest_ms for run in ours),
        "probe_requests_during_baselines": sum(requests for _, requests in bare),
        "db_dump_mb": round(dump_bytes / 1e6, 1),
        "db_innodb_mb": round(sum(sizes.values()), 1),
        "copied_innodb_mb": round(copied_mb, 1),
        "copied_tables": len(tables),
        "table_innodb_mb": {table: round(mb, 1) for table, mb in
                            sorted(sizes.items(), key=lambda item: -item[1]) if mb >= 1},
        "pressluft_runs": [[round(run.drift.seconds, 2), round(run.promote.seconds, 2)]
                           for run in ours],
        "baseline_runs": [round(seconds, 2) for seconds, _ in bare],
        "backup_before_promotion_seconds": [round(run.backup_seconds, 2) for run in ours],
        "drift_check_steps": steps(fastest.drift),
        "promotion_steps": steps(fastest.promote, TABLE_SPLITS),
        # Other work on the node moves both times: this says how busy it was.
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
