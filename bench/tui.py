"""``python -m bench tui``: how the console copes with a large installation.

Side by side in one run: launch to the interactive sites screen on an empty database and
on one with 1,000 sites x 3 environments and 100,000 jobs (``startup_ratio`` = large /
empty; target ≤ 1.5), opening the jobs screen on the large one, and the rate of log lines
a live job log displays while key presses keep being answered within 100 ms
(``log_lines_per_s``; target ≥ 10,000). Headless (Textual's test driver).

"Launch" is a new process, as when an operator types ``pressluft``: Python's start and
the imports count. ``app_only_*`` repeat the start-up inside one warm process (app
construction to a handled key press), which isolates what the data adds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from textual.widgets import DataTable

from bench._report import report
from pressluft_core.app import Pressluft
from pressluft_core.jobs.logs import log_path
from pressluft_core.session_store import save_token
from pressluft_tui.app import PressluftApp
from pressluft_tui.screens.jobs import JobsScreen
from pressluft_tui.screens.sites import SitesScreen
from pressluft_tui.widgets.job_log import JobLogView
from pressluft_tui.widgets.resource_table import ResourceTable

EMAIL, PASSWORD = "bench@example.com", "bench password 123"
STARTED_AT = [0.0]
_WRITER = """
import sys
path, count = sys.argv[1], int(sys.argv[2])
with open(path, "a", buffering=1 << 16) as handle:
    for number in range(count):
        handle.write(f"2026-03-01T12:00:00Z out  line {number} of the bench output, "
                     "long enough to look like real build output\\n")
        if number % 2000 == 0:
            handle.flush()
"""


def make_installation(home: Path, sites: int, jobs: int) -> Pressluft:
    core = Pressluft.open(home, database_url="")
    core.auth.create_admin(EMAIL, "Bench", PASSWORD)
    token, _ = core.auth.login(EMAIL, PASSWORD)
    save_token(core.rt.paths, token)
    node = core.nodes.register(token, "local", "localhost", public_ip="192.0.2.1",
                               is_local=True)
    now = "2026-03-01T12:00:00Z"
    site_rows, env_rows, job_rows = [], [], []
    for number in range(sites):
        site_id = str(uuid.uuid4())
        site_rows.append((site_id, f"Site {number}", f"site-{number:04d}", "active", now, now))
        for slug, kind in (("production", "production"), ("staging", "staging"),
                           ("clone-1", "clone")):
            env_id = str(uuid.uuid4())
            env_rows.append((env_id, site_id, slug.title(), slug, kind, "active", node.id,
                             "content-protect", f"http://{env_id[:8]}.192-0-2-1.sslip.io",
                             "unknown", now, now))
    for number in range(jobs):
        site_id = site_rows[number % max(sites, 1)][0] if sites else None
        job_rows.append((str(uuid.uuid4()), "noop", "succeeded", site_id, node.id, "{}", 1,
                         3, now, now, now, number + 1))
    db = core.db
    with db.atomic():
        db.cursor().executemany(
            "INSERT INTO sites (id, name, slug, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", site_rows)
        db.cursor().executemany(
            "INSERT INTO environments (id, site_id, name, slug, environment_type, status, "
            "node_id, promotion_preset, preview_url, drift_status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", env_rows)
        db.cursor().executemany(
            "INSERT INTO jobs (id, job_type, status, site_id, node_id, payload_json, "
            "attempt_count, max_attempts, created_at, updated_at, finished_at, queue_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", job_rows)
    return core


async def until(pilot, predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the console did not get there in time")
        await pilot.pause(0.001)


def table_filled(app: PressluftApp, screen_type: type, rows: int) -> bool:
    screen = app.screen
    if not isinstance(screen, screen_type):
        return False
    tables = screen.query(DataTable)
    return bool(tables) and tables.first().row_count >= rows


async def startup_seconds(core: Pressluft, rows: int) -> tuple[float, float]:
    """(interactive, complete): launch until a key press on the sites table was handled
    (its first screenful shown; the operator can act from here); until every row is in."""
    started = time.perf_counter()
    STARTED_AT[0] = started
    app = PressluftApp(core, run_worker=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: table_filled(app, SitesScreen, min(rows, 40)) and
                    app.screen.query_one(DataTable).has_focus)
        table = app.screen.query_one(DataTable)
        handled: list[float] = []
        original = table.action_cursor_down

        def cursor_down() -> None:
            handled.append(time.perf_counter())
            original()

        table.action_cursor_down = cursor_down  # type: ignore[method-assign]
        await pilot.press("down")
        await until(pilot, lambda: bool(handled))
        interactive = handled[0] - started
        await until(pilot, lambda: table_filled(app, SitesScreen, rows)
                    and app.screen.query_one(ResourceTable).loaded)
        return interactive, time.perf_counter() - started


async def jobs_screen_seconds(core: Pressluft) -> float:
    app = PressluftApp(core, run_worker=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: table_filled(app, SitesScreen, 1)
                    and app.screen.query_one(ResourceTable).loaded)
        started = time.perf_counter()
        await pilot.press("j")
        await until(pilot, lambda: table_filled(app, JobsScreen, 40))
        return time.perf_counter() - started


async def log_rate(core: Pressluft, lines: int) -> tuple[float, list[float]]:
    """Lines per second the log pane takes in while a writer floods the job log (none
    skipped), and how long each key press meanwhile took to be handled (ms, Pilot's
    press-and-settle)."""
    token = core.rt.paths.cli_session_file.read_text()
    job = core.jobs.list(token, limit=1)[0]
    path = log_path(core.rt.paths.job_logs_dir, job.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    app = PressluftApp(core, run_worker=False)
    latencies: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: table_filled(app, SitesScreen, 1))
        await pilot.press("j")
        await until(pilot, lambda: table_filled(app, JobsScreen, 1))
        log = app.screen.query_one(JobLogView)
        # The job's output comes from another process, as with a worker daemon (and an
        # embedded worker only writes as fast as its SSH channel delivers).
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(lines)])
        started = time.perf_counter()
        handled: list[float] = []
        screen = app.screen
        original = screen.action_focus_log

        def focus_log() -> None:  # records when the key's action actually ran
            handled.append(time.perf_counter())
            original()

        screen.action_focus_log = focus_log  # type: ignore[method-assign]
        shown = 0
        while shown < lines and time.perf_counter() - started < 120:
            pressed = time.perf_counter()
            count = len(handled)
            await pilot.press("l")
            if len(handled) > count:
                latencies.append((handled[-1] - pressed) * 1000)
            await pilot.press("t")
            shown = log.received
            await pilot.pause(0.05)
        elapsed = time.perf_counter() - started
        writer.wait(60)
    return shown / elapsed, latencies


def launch_seconds(home: Path, rows: int) -> tuple[float, float]:
    """Like :func:`startup_seconds`, but from the launch of a new process: Python's start,
    the imports and opening the database count too, as they do for an operator typing
    ``pressluft``."""
    launched = time.time()
    out = subprocess.run([sys.executable, "-m", "bench", "tui", "--launch-child", str(home),
                          str(rows)], check=True, capture_output=True, text=True).stdout
    interactive_at, complete_at = json.loads(out.strip().splitlines()[-1])
    return interactive_at - launched, complete_at - launched


def _launch_child(home: str, rows: int) -> int:
    """In the launched process: open the installation, wait until interactive and complete,
    print both moments as wall-clock times for the parent."""
    wall_offset = time.time() - time.perf_counter()
    core = Pressluft.open(home, database_url="")
    interactive, complete = asyncio.run(startup_seconds(core, rows))
    started = STARTED_AT[0] + wall_offset
    print(json.dumps([started + interactive, started + complete]))
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--launch-child"]:
        return _launch_child(argv[1], int(argv[2]))
    parser = argparse.ArgumentParser(prog="python -m bench tui")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--log-lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        empty_home, large_home = Path(tmp) / "empty", Path(tmp) / "large"
        make_installation(empty_home, 0, 0).close()
        large = make_installation(large_home, args.sites, args.jobs)
        large.close()
        runs: dict[str, list[tuple[float, float]]] = {"empty": [], "large": []}
        for _ in range(args.repeat):  # interleaved, so machine noise hits both alike
            runs["empty"].append(launch_seconds(empty_home, 0))
            runs["large"].append(launch_seconds(large_home, args.sites))
        empty_times = [run[0] for run in runs["empty"]]
        large_times = [run[0] for run in runs["large"]]
        large_complete = statistics.median(run[1] for run in runs["large"])
        in_process = {}
        for name, home, rows in (("empty", empty_home, 0), ("large", large_home, args.sites)):
            core = Pressluft.open(home, database_url="")  # one installation at a time
            in_process[name] = statistics.median(
                asyncio.run(startup_seconds(core, rows))[0] for _ in range(args.repeat))
        large = core
        jobs_open = asyncio.run(jobs_screen_seconds(large))
        gc.collect()  # the earlier runs' apps are garbage; the console has just one app
        rate, key_ms = asyncio.run(log_rate(large, args.log_lines))
        large.close()
    result = {
        "startup_empty_ms": round(statistics.median(empty_times) * 1000, 1),
        "startup_large_ms": round(statistics.median(large_times) * 1000, 1),
        "startup_ratio": round(statistics.median(large_times) / statistics.median(empty_times),
                               3),
        "sites_table_complete_ms": round(large_complete * 1000, 1),
        "app_only_empty_ms": round(in_process["empty"] * 1000, 1),
        "app_only_large_ms": round(in_process["large"] * 1000, 1),
        "app_only_ratio": round(in_process["large"] / in_process["empty"], 3),
        "jobs_screen_open_ms": round(jobs_open * 1000, 1),
        "log_lines_per_s": round(rate),
        "key_latency_median_ms": round(statistics.median(key_ms), 1),
        "key_latency_max_ms": round(max(key_ms), 1),
        "key_presses": len(key_ms),
        "sites": args.sites, "jobs": args.jobs,
    }
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
