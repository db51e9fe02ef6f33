"""Benchmark: the URL replacer against ``sed 's|OLD|NEW|g'`` on the same generated dump.

``python -m bench search_replace [--json] [--size-mb N] [--repeat N]``

A WordPress-like dump (see :mod:`bench._wpdump`) is written to a temp dir; then sed and the
replacer (``python3 -m pressluft_core.wordpress.search_replace`` with this interpreter, as a
subprocess reading and writing files) rewrite it in turn: as it runs by default (``--jobs``
processes, two where there are two cores) and in one process. sed is the baseline
because it is the fastest thing that could plausibly do the job — and would corrupt every
serialized value it touches. Each runs ``--repeat`` times, alternating, and its fastest
run counts, so a burst of load on a shared machine hurts all alike. Figures: MB/s of each
(wall clock), ``ratio_vs_sed`` (target ≥ 0.5) and the same by CPU time (all processes), the
one-process figures beside them, the replacer's peak RSS (target < 50 MB): the sum of each
of its processes' peaks, as it reports them (``--stats``; pages the processes share are
counted in each, so this is an upper bound), how often each output still contains the old
host (the replacer: never; sed misses the JSON-escaped and protocol-relative forms), and the
machine's CPU count and load average at the end: on a busy shared machine the times, so the
ratio, move a lot from one run to the next.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._wpdump import NEW_URL, OLD_URL, generate
from pressluft_core.wordpress.search_replace import default_jobs

ROOT = Path(__file__).resolve().parent.parent
OLD_HOST = OLD_URL.split("//", 1)[1].encode()


# Runs one command and reports on it. A small process of its own, because a child's
# ru_maxrss also counts the pages it shared with its parent before exec: forked from this
# benchmark (which just generated the dump) it would report the benchmark's size.
WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    json.dump([code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss], f)
"""


def _run(cmd: list[str], src: Path, dst: Path) -> tuple[float, float, float]:
    """Run ``cmd < src > dst``; (wall seconds, CPU seconds of it and its children, peak RSS
    in MB: the sum the replacer reports with ``--stats``, else the largest process's)."""
    report, errors = dst.with_suffix(".json"), dst.with_suffix(".err")
    with src.open("rb") as fin, dst.open("wb") as fout, errors.open("wb") as ferr:
        subprocess.run([sys.executable, "-I", "-c", WRAPPER, str(report), *cmd],
                       stdin=fin, stdout=fout, stderr=ferr, cwd=ROOT, check=True)
    code, wall, cpu, maxrss_kb = json.loads(report.read_text())
    if code != 0:
        raise SystemExit(f"{cmd[0]} failed with exit code {code}: {errors.read_text()}")
    stated = re.search(r"peak RSS ([0-9.]+) MB", errors.read_text())
    return wall, cpu, float(stated.group(1)) if stated else maxrss_kb / 1024  # Linux: KiB


def url_line_share(path: Path) -> float:
    """Share of the dump's bytes on lines that mention the old host (the rest take the
    replacer's fast path)."""
    total = with_url = 0
    with path.open("rb") as f:
        for line in f:
            total += len(line)
            with_url += len(line) if OLD_HOST in line else 0
    return with_url / total if total else 0.0


def count_in_file(path: Path, needle: bytes, chunk: int = 1 << 20) -> int:
    """Occurrences of ``needle`` in ``path``, read in chunks (memory stays flat)."""
    count, tail = 0, b""
    with path.open("rb") as f:
        while block := f.read(chunk):
            data = tail + block
            count += data.count(needle)
            keep = len(needle) - 1
            tail = data[-keep:] if keep else b""
            count -= tail.count(needle)  # counted again with the next block
    return count + tail.count(needle)


def main(argv: list[str]) -> int:
    """Generate the dump, time both tools, print the figures (JSON last with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m bench search_replace",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="JSON object on the last line")
    parser.add_argument("--size-mb", type=float, default=200.0, help="dump size (200)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per tool, best kept (2)")
    parser.add_argument("--jobs", type=int, default=default_jobs(),
                        help=f"replacer processes (its default here: {default_jobs()})")
    args = parser.parse_args(argv)

    module = [sys.executable, "-m", "pressluft_core.wordpress.search_replace", "--stats"]
    ours_cmd = [*module, "--jobs", str(args.jobs), OLD_URL, NEW_URL]
    single_cmd = [*module, "--jobs", "1", OLD_URL, NEW_URL]
    sed_cmd = ["sed", f"s|{OLD_URL}|{NEW_URL}|g"]
    with tempfile.TemporaryDirectory(prefix="bench-sr-") as tmp:
        dump, out_ours, out_sed = (Path(tmp) / n for n in ("dump.sql", "ours.sql", "sed.sql"))
        t0 = time.perf_counter()
        size = generate(dump, args.size_mb)
        share = url_line_share(dump)
        print(f"generated {size / 1e6:.1f} MB WordPress-like dump in "
              f"{time.perf_counter() - t0:.1f} s; {share:.0%} of it on lines with the URL")
        ours: list[tuple[float, float, float]] = []
        single: list[tuple[float, float, float]] = []
        sed: list[tuple[float, float, float]] = []
        for _ in range(max(1, args.repeat)):
            sed.append(_run(sed_cmd, dump, out_sed))
            single.append(_run(single_cmd, dump, out_ours))
            ours.append(_run(ours_cmd, dump, out_ours))
        left_ours = count_in_file(out_ours, OLD_HOST)
        left_sed = count_in_file(out_sed, OLD_HOST)

    size_mb = size / 1e6
    ours_wall, sed_wall = min(r[0] for r in ours), min(r[0] for r in sed)
    ours_cpu, sed_cpu = min(r[1] for r in ours), min(r[1] for r in sed)
    single_wall, single_cpu = min(r[0] for r in single), min(r[1] for r in single)
    result = {
        "ours_mb_per_s": round(size_mb / ours_wall, 1),
        "sed_mb_per_s": round(size_mb / sed_wall, 1),
        "ratio_vs_sed": round(sed_wall / ours_wall, 3),
        "ratio_vs_sed_cpu": round(sed_cpu / ours_cpu, 3) if ours_cpu else None,
        "jobs": args.jobs,
        "one_process_mb_per_s": round(size_mb / single_wall, 1),
        "one_process_ratio_vs_sed": round(sed_wall / single_wall, 3),
        "one_process_ratio_vs_sed_cpu": round(sed_cpu / single_cpu, 3) if single_cpu else None,
        "peak_rss_mb": round(max(r[2] for r in ours), 1),
        "one_process_peak_rss_mb": round(max(r[2] for r in single), 1),
        "size_mb": round(size_mb, 1),
        "url_line_share": round(share, 2),
        "old_host_left_ours": left_ours,
        "old_host_left_sed": left_sed,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(f"replacer: {result['ours_mb_per_s']} MB/s ({ours_wall:.2f} s wall, "
          f"{ours_cpu:.2f} s CPU, {args.jobs} process(es)), peak RSS "
          f"{result['peak_rss_mb']} MB (target < 50)")
    print(f"  in one process: {result['one_process_mb_per_s']} MB/s ({single_wall:.2f} s "
          f"wall, {single_cpu:.2f} s CPU), peak RSS {result['one_process_peak_rss_mb']} MB")
    print(f"sed:      {result['sed_mb_per_s']} MB/s ({sed_wall:.2f} s wall, "
          f"{sed_cpu:.2f} s CPU)")
    print(f"ratio vs sed: {result['ratio_vs_sed']} (target >= 0.5; "
          f"by CPU time {result['ratio_vs_sed_cpu']}); in one process "
          f"{result['one_process_ratio_vs_sed']} (by CPU time "
          f"{result['one_process_ratio_vs_sed_cpu']})")
    print(f"'{OLD_HOST.decode()}' left: replacer {left_ours}, sed {left_sed} "
          "(sed misses JSON-escaped and protocol-relative forms)")
    print(f"machine: {result['cpus']} CPUs, load average {result['load_average_1m']}")
    if args.json:
        print(json.dumps(result))
    return 0
