"""``python -m bench clone``: cloning a WordPress environment through Pressluft's real
``env_create`` job against the bare copy a shell user would make, on the same node, in the
same run, from the same data.

``python -m bench clone [--json] [--db-mb 200] [--uploads-mb 500] [--repeat N]``

Needs root and this machine's stack (sshd on loopback, MariaDB, nginx, PHP-FPM, WordPress
files at ``/opt/pressluft-test/wordpress``, as scripts/test sets them up): the node is this
machine, reached over the real sshd, so the job pays for everything a real clone pays for
(SSH, sudo, the node-side envctl, the worker's bookkeeping).

Setup (not timed): one site is created and its production environment filled with
- a WordPress-like database: a ``bench/_wpdump.py`` dump of ``--db-mb`` MB, loaded into
  WordPress's own tables (posts, postmeta, options, comments; the action-scheduler and
  order-stats tables, which only plugins make, are created first). Its URLs are the
  production's preview URL, so the clone's replacer rewrites real links, serialized
  options and JSON-escaped Elementor data instead of streaming past them. WordPress's
  sample posts are deleted first because the dump's post IDs start at 2;
- ``--uploads-mb`` MB of uploads laid out as WordPress does (``YYYY/MM``): per image an
  original of 100 KB-2 MB (log-uniform) and three smaller sizes of it (~4 files per
  850 KB, ~2,350 files for 500 MB), random bytes so that no layer can compress or
  deduplicate them, owned by the environment's user.

Timed, each ``--repeat`` times (default 3: a 2-vCPU node shared with other work swings a
200 MB import by ±30 %), the two alternating (who goes first swaps every round), the
fastest of each counting:
- Pressluft: ``environments.clone`` (enqueue) until the ``env_create`` job has succeeded in
  a worker: prepare user/pool/database/nginx, the drift baseline, code + uploads +
  database copied with URLs rewritten, activate, health check.
- Baseline: ``mysqldump --single-transaction --quick src | mariadb dst`` into a new
  database, then ``cp -a`` of the uploads directory to the same filesystem. That is the
  floor for "a copy of this site": no user, no config, no URL rewrite, no check.
Before each timed run dirty pages are written back (``sync``), so neither inherits the
other's (or the setup's) writes; both read a source that is in the page cache. The job runs
in a fresh worker, so its time includes opening the SSH connection (~0.1 s).

Figures: ``ratio`` = pressluft_seconds / baseline_seconds (target ≤ 0.35), both times, the
baseline's two halves, the sizes (dump MB, the source database's InnoDB MB, uploads MB and
files), and ``pressluft_steps``: seconds per job step, the copy step split at the node's
own progress lines (code, uploads, database, AUTO_INCREMENT), measured as the lines
arrive; every run's total is listed too (``pressluft_runs``, ``baseline_runs``), and the
node's CPU count and load average at the end, to tell a busy node's figures. The clone
is checked after each run (row counts, production's URL in the source's posts but in none
of the clone's, the same upload files) so a fast but wrong clone cannot pass.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench import _wpdump
from bench._report import report
from bench._stack import NODE, JobRun, Stack, real_stack, remove_from_node
from pressluft_core.jobs.handlers.envctl import canonical_url, node_names
from pressluft_core.models import Environment

SITE = "bench"
# Tables the dump fills that a bare WordPress does not have (WooCommerce's action
# scheduler and order stats), with the columns _wpdump writes, in its order.
PLUGIN_TABLES = """
CREATE TABLE IF NOT EXISTS wp_actionscheduler_logs (
  log_id bigint(20) unsigned NOT NULL AUTO_INCREMENT, action_id bigint(20) unsigned NOT NULL,
  message text NOT NULL, log_date_gmt datetime DEFAULT NULL,
  log_date_local datetime DEFAULT NULL,
  PRIMARY KEY (log_id), KEY action_id (action_id), KEY log_date_gmt (log_date_gmt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS wp_wc_order_stats (
  order_id bigint(20) unsigned NOT NULL, parent_id bigint(20) unsigned NOT NULL DEFAULT 0,
  date_created datetime NOT NULL, date_created_gmt datetime NOT NULL,
  num_items_sold int(11) NOT NULL DEFAULT 0, total_sales double NOT NULL DEFAULT 0,
  tax_total double NOT NULL DEFAULT 0, shipping_total double NOT NULL DEFAULT 0,
  status varchar(200) NOT NULL, customer_id bigint(20) unsigned NOT NULL,
  returning_customer tinyint(1) DEFAULT NULL,
  PRIMARY KEY (order_id), KEY date_created (date_created), KEY customer_id (customer_id),
  KEY status (status(191))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
"""
# envctl's progress lines in a same-node clone, in the order they come: the database is
# copied inside MariaDB and its URLs rewritten while cp copies code and uploads.
COPY_PHASES = ((r"copied \d+ tables", "copy: tables inside MariaDB"),
               ("URLs rewritten:", "copy: URL rewrite"),
               ("copied code", "copy: code (waited for)"),
               ("copied uploads", "copy: uploads (waited for)"),
               ("database ", "copy: database done"),
               ("AUTO_INCREMENT", "copy: AUTO_INCREMENT"),
               ("search engines", "copy: blog_public"))


def mysql(sql: str, database: str | None = None) -> str:
    argv = ["mariadb", "--batch", "--skip-column-names"] + ([database] if database else [])
    return subprocess.run(argv, input=sql.encode(), capture_output=True, check=True
                          ).stdout.decode()


def settle() -> None:
    """Write back dirty pages, so a timed run does not pay for the writes before it."""
    subprocess.run(["sync"], check=True)


# -- the production environment's data ---------------------------------------------------

@contextlib.contextmanager
def dump_url(url: str) -> Iterator[None]:
    """_wpdump writes its links for ``OLD_URL``, read when each row is made; pointing it at
    the production URL for one ``generate`` gives serialized lengths that add up."""
    old = _wpdump.OLD_URL
    _wpdump.OLD_URL = url
    try:
        yield
    finally:
        _wpdump.OLD_URL = old


def fill_database(env: Environment, dump: Path, size_mb: float) -> int:
    """Load a ~``size_mb`` MB dump into the environment's database; the dump's bytes."""
    with dump_url(canonical_url(env)):
        size = _wpdump.generate(dump, size_mb)
    db = node_names(env.id)
    mysql(PLUGIN_TABLES + "DELETE FROM wp_postmeta WHERE post_id >= 2;\n"
          "DELETE FROM wp_posts WHERE ID >= 2;\n", db)
    with dump.open("rb") as source:
        subprocess.run(["mariadb", "--default-character-set=utf8mb4", db], stdin=source,
                       check=True)
    dump.unlink()
    return size


def fill_uploads(uploads: Path, size_mb: float, owner: str, seed: int = 7) -> None:
    """WordPress's layout and mix: an original of 100 KB-2 MB and three resized copies."""
    rng = random.Random(seed)
    target, written, image = int(size_mb * 1_000_000), 0, 0
    while written < target:
        folder = uploads / str(2019 + rng.randrange(6)) / f"{rng.randrange(1, 13):02d}"
        folder.mkdir(parents=True, exist_ok=True)
        original = int(math.exp(rng.uniform(math.log(100_000), math.log(2_000_000))))
        sizes = {"": original, "-1024x683": max(50_000, original // 3),
                 "-300x200": rng.randrange(15_000, 40_000),
                 "-150x150": rng.randrange(5_000, 12_000)}
        for suffix, size in sizes.items():
            (folder / f"image-{image}{suffix}.jpg").write_bytes(os.urandom(size))
            written += size
        image += 1
    subprocess.run(["chown", "-R", f"{owner}:{owner}", str(uploads)], check=True)


def tree_size(path: Path) -> tuple[int, int]:
    files = size = 0
    for base, _, names in os.walk(path):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(base, name)).st_size
    return files, size


def database_bytes(db: str) -> int:
    """InnoDB's data + index size; ANALYZE first, as the statistics lag behind a load."""
    tables = mysql("SHOW TABLES", db).split()
    if tables:
        mysql("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables), db)
    return int(mysql("SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM "
                     f"information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'").strip())


def uploads_dir(stack: Stack, env: Environment) -> Path:
    return stack.sites_root / env.site_id / env.id / "shared" / "uploads"


# -- the two ways to copy ----------------------------------------------------------------

def baseline(source_db: str, source_uploads: Path, scratch: Path) -> tuple[float, float]:
    """``mysqldump | mariadb`` into a new database and ``cp -a`` of the uploads: (database
    seconds, uploads seconds). Both removed again afterwards."""
    db = f"plbench_{uuid.uuid4().hex[:10]}"
    target = scratch / f"baseline-{db}"
    target.mkdir(parents=True)
    try:
        settle()
        started = time.perf_counter()
        mysql(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        dump = subprocess.Popen(["mysqldump", "--single-transaction", "--quick", source_db],
                                stdout=subprocess.PIPE)
        assert dump.stdout is not None
        load = subprocess.run(["mariadb", db], stdin=dump.stdout, check=False)
        dump.stdout.close()
        if dump.wait() != 0 or load.returncode != 0:
            raise RuntimeError(f"baseline: mysqldump exited {dump.returncode}, mariadb "
                               f"{load.returncode}")
        copied_db = time.perf_counter()
        subprocess.run(["cp", "-a", str(source_uploads), str(target / "uploads")], check=True)
        copied_uploads = time.perf_counter()
        if database_bytes(db) == 0 or not (target / "uploads").is_dir():
            raise RuntimeError("baseline: the copy is empty")
        return copied_db - started, copied_uploads - copied_db
    finally:
        mysql(f"DROP DATABASE IF EXISTS `{db}`")
        subprocess.run(["rm", "-rf", str(target)], check=True)


def pressluft(stack: Stack, slug: str) -> JobRun:
    """One ``env_create`` from enqueue to success, checked, then removed from the node."""
    settle()
    run = stack.run(lambda: stack.core.environments.clone(
        stack.token, SITE, "production", f"Bench {slug}", slug))
    production, clone = stack.env(SITE, "production"), stack.env(SITE, slug)
    try:
        check_clone(stack, production, clone)
    finally:
        remove_from_node(clone)
    return run


def check_clone(stack: Stack, production: Environment, clone: Environment) -> None:
    source_db, db = node_names(production.id), node_names(clone.id)
    count = "SELECT COUNT(*) FROM wp_posts"
    if mysql(count, db) != mysql(count, source_db):
        raise RuntimeError("clone: wp_posts row counts differ")
    host = canonical_url(production).split("://", 1)[1]
    linking = (f"SELECT COUNT(*) FROM wp_posts WHERE post_content LIKE '%{host}%' "
               f"OR guid LIKE '%{host}%'")
    if int(mysql(linking, source_db)) == 0:
        raise RuntimeError(f"production: no post links to {host}: nothing to rewrite")
    left = int(mysql(linking, db))
    if left:
        raise RuntimeError(f"clone: {left} posts still link to {host}")
    if tree_size(uploads_dir(stack, clone)) != tree_size(uploads_dir(stack, production)):
        raise RuntimeError("clone: uploads differ from production's")


def breakdown(run: JobRun) -> dict[str, float]:
    """Seconds per job step (from its ``----`` marker to the next), the copy step split at
    envctl's progress lines; the first entry is enqueue to the first step."""
    parts: dict[str, float] = {}
    current, start, in_copy = "enqueue and claim", 0.0, False
    for line in run.lines:
        if line.tag == "----":
            parts[current] = parts.get(current, 0.0) + line.at - start
            current, start = line.text.split(": ", 1)[-1], line.at
            in_copy = current.startswith("copy")
        elif in_copy and line.tag == "out":
            for pattern, name in COPY_PHASES:
                if re.match(pattern, line.text):
                    parts[name] = line.at - start
                    current, start = "copy: rest", line.at
                    break
    parts[current] = parts.get(current, 0.0) + run.seconds - start
    return {name: round(seconds, 2) for name, seconds in parts.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench clone")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db-mb", type=float, default=200,
                        help="size of the generated dump loaded into production")
    parser.add_argument("--uploads-mb", type=float, default=500)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of both copies; the fastest of each counts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pressluft-bench-clone-") as tmp, \
            real_stack(Path(tmp) / "home") as stack:
        stack.run(lambda: stack.core.sites.create(stack.token, "Bench", SITE, node=NODE))
        production = stack.env(SITE, "production")
        source_db, source_uploads = node_names(production.id), uploads_dir(stack, production)
        dump_bytes = fill_database(production, Path(tmp) / "dump.sql", args.db_mb)
        fill_uploads(source_uploads, args.uploads_mb, node_names(production.id))
        files, upload_bytes = tree_size(source_uploads)
        db_bytes = database_bytes(source_db)
        ours: list[JobRun] = []
        bare: list[tuple[float, float]] = []
        for number in range(args.repeat):
            pressluft_first = number % 2 == 1
            if pressluft_first:
                ours.append(pressluft(stack, f"clone-{number}"))
            bare.append(baseline(source_db, source_uploads, stack.sites_root))
            if not pressluft_first:
                ours.append(pressluft(stack, f"clone-{number}"))
    fastest = min(ours, key=lambda run: run.seconds)
    db_seconds, uploads_seconds = min(bare, key=sum)
    baseline_seconds = db_seconds + uploads_seconds
    result = {
        "ratio": round(fastest.seconds / baseline_seconds, 3),
        "pressluft_seconds": round(fastest.seconds, 2),
        "baseline_seconds": round(baseline_seconds, 2),
        "baseline_db_seconds": round(db_seconds, 2),
        "baseline_uploads_seconds": round(uploads_seconds, 2),
        "db_dump_mb": round(dump_bytes / 1e6, 1),
        "db_innodb_mb": round(db_bytes / 1e6, 1),
        "uploads_mb": round(upload_bytes / 1e6, 1),
        "uploads_files": files,
        "pressluft_runs": [round(run.seconds, 2) for run in ours],
        "baseline_runs": [round(sum(pair), 2) for pair in bare],
        "pressluft_steps": breakdown(fastest),
        # Other work on the node moves both times: this says how busy it was.
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
