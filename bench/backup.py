"""``python -m bench backup``: a full backup through Pressluft's real ``backup_create`` job
against the bare pipeline a shell user would write, same node, same S3 server, same run.

``python -m bench backup [--json] [--db-mb 200] [--uploads-mb 1000] [--repeat 2]``

Needs root and this machine's stack (sshd on loopback, MariaDB, nginx, PHP-FPM, WordPress
files, as scripts/test sets them up) and moto (``python -m moto.server``, started here in a
process of its own on a loopback port: a real HTTP endpoint that keeps objects in memory,
so every object is deleted again right after its run is measured).

Setup (not timed): one site whose production environment is filled as ``bench clone``
fills it (``clone.fill_database``: a WordPress-like dump of ``--db-mb`` MB loaded into
WordPress's tables; ``clone.fill_uploads``: ``--uploads-mb`` MB of random-byte images in
WordPress's ``YYYY/MM`` layout, so no layer can compress them).

Timed, ``--repeat`` rounds, the two alternating (who goes first swaps every round), the
fastest of each counting; dirty pages are written back before each (``sync``):
- Pressluft: ``pressluft backup create bench production --wait`` in a process of its own
  (the CLI runs the job in-process: a worker, SSH to the node, ``envctl backup-stream``,
  the S3 multipart upload with SHA-256), which reports its peak RSS (``VmHWM``) when the
  job has ended. Time: from spawning that process to its exit, so it includes the
  interpreter's start and imports (~0.5 s), opening the installation, enqueueing, the SSH
  connection and the helper upload.
- Baseline: a Python process of its own too (same start and import costs) that runs
  ``ssh -i <control key> pressluft-node@127.0.0.1 'sudo -n sh -c "mysqldump … > tmp/db.sql;
  tar -c db.sql wp-content uploads | zstd -3 -T0"'`` (the OpenSSH client, the same sshd, the
  same control key) and pipes its stdout into boto3's ``upload_fileobj`` (default transfer
  config: 8 MiB parts, 10 threads), to the same bucket under another key. Its boto3 client
  skips per-part checksums as Pressluft's does (``when_required``), so neither pays for a
  CRC the other skips; it computes no SHA-256, records nothing, checks nothing. Same zstd
  level as the node's ``backup-stream`` (-3, all cores for the archive).

Figures: ``ratio`` = pressluft_seconds / baseline_seconds (target ≤ 1.0), MB/s of both
(archive bytes uploaded per second of wall time), ``pressluft_peak_rss_mib`` (the CLI
process, from the kernel's ``VmHWM``), the baseline uploader's peak RSS, both archive sizes,
the sizes of the source, every run's time, and per-step seconds of the fastest runs: ours
from the job log, tailed every 50 ms while the process runs (process start to the first
step, the size estimate, helper upload and database staging until the node says
``database dumped``, the tar/zstd stream until ``backup stream complete``, completing the
multipart upload, the process's exit); the baseline's split at its ``dumped`` marker. And
the node's CPU count and load average, to tell a busy node's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench._report import report
from bench._s3 import ACCESS_KEY, SECRET_KEY, S3Server, empty_bucket, s3_server, use_storage
from bench._stack import NODE, Stack, real_stack, sshd
from bench.clone import database_bytes, fill_database, fill_uploads, settle, tree_size, uploads_dir
from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.models import Backup, Environment
from pressluft_core.remote.keys import ensure_control_key

SITE = "bench"
# Peak RSS from the kernel's own accounting of the process (VmHWM; getrusage's ru_maxrss
# would also count the forked parent's pages from before exec), as
# tests/wordpress/test_backup_e2e.py measures it.
MEASURED_CLI = ("import sys\n"
                "from pressluft_core.cli.main import main\n"
                "status = main(sys.argv[1:])\n"
                "peak = [l.split()[1] for l in open('/proc/self/status') if "
                "l.startswith('VmHWM:')][0]\n"
                "print(f'peak_rss_kib={peak}', file=sys.stderr)\n"
                "sys.exit(status)\n")
# The baseline's uploader: ssh's stdout into upload_fileobj; prints its marks as JSON.
BASELINE = """\
import json, os, subprocess, sys, threading, time
started = time.perf_counter()
import boto3
from botocore.config import Config
endpoint, bucket, key, argv = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=os.environ["BENCH_S3_KEY"],
                      aws_secret_access_key=os.environ["BENCH_S3_SECRET"],
                      config=Config(request_checksum_calculation="when_required",
                                    response_checksum_validation="when_required"))
marks = {"imported": time.perf_counter() - started}
ssh = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
errors = []
def watch():
    for line in ssh.stderr:
        if line.strip() == b"dumped":
            marks["dumped"] = time.perf_counter() - started
        else:
            errors.append(line.decode(errors="replace"))
watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
client.upload_fileobj(ssh.stdout, bucket, key)
marks["uploaded"] = time.perf_counter() - started
status = ssh.wait()
watcher.join()
marks["peak_rss_kib"] = int([l.split()[1] for l in open("/proc/self/status")
                             if l.startswith("VmHWM:")][0])
marks["errors"] = "".join(errors)[-2000:]
print(json.dumps(marks))
sys.exit(status)
"""
# Lines of the backup job's log that end a phase of its one step ("stream the archive to
# S3"): (start of the line, name of the phase it ends).
PHASES = (("backup ", "size estimate (backup-estimate over SSH)"),
          ("database dumped", "helper upload + mysqldump | zstd into the env's tmp/"),
          ("backup stream complete", "tar | zstd -T0 streamed over SSH into the multipart "
                                     "upload (SHA-256)"),
          ("backup ", "last parts sent, multipart upload completed, row written"))


# -- Pressluft's backup, in a CLI process of its own -------------------------------------

@dataclass
class LogTail:
    """Lines of job logs that appear in ``directory`` while it runs, each stamped with the
    seconds since ``started`` at which a 50 ms poll first saw it (the log's own stamps have
    whole seconds only)."""
    directory: Path
    started: float
    lines: list[tuple[float, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._known = set(self.directory.glob("*.log")) if self.directory.is_dir() else set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LogTail:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        positions: dict[Path, int] = {}
        pending: dict[Path, str] = {}
        while True:
            stopping = self._stop.is_set()
            now = time.perf_counter() - self.started
            paths = set(self.directory.glob("*.log")) if self.directory.is_dir() else set()
            for path in sorted(paths - self._known):
                with path.open("r", encoding="utf-8", errors="replace") as handle:
                    handle.seek(positions.get(path, 0))
                    text = pending.get(path, "") + handle.read()
                    positions[path] = handle.tell()
                *complete, pending[path] = text.split("\n")
                for line in complete:
                    # "<time> <tag padded to 4> <text>", as JobLog.write makes it
                    _, _, rest = line.partition(" ")
                    tag = rest.split(" ", 1)[0]
                    self.lines.append((now, tag, rest[max(len(tag), 4) + 1:]))
            if stopping:
                return
            time.sleep(0.05)


@dataclass
class Run:
    seconds: float
    archive_bytes: int
    peak_rss_kib: int
    steps: dict[str, float]


def phases(lines: list[tuple[float, str, str]], total: float) -> dict[str, float]:
    """Seconds per phase of the backup job, split at PHASES' lines in their order."""
    steps: dict[str, float] = {}
    current, start, index = "process start, imports, enqueue, claim", 0.0, 0
    for at, tag, text in lines:
        if tag == "----" and current.startswith("process start"):
            steps[current], current, start = at - start, "step start", at
        elif index < len(PHASES) and text.startswith(PHASES[index][0]):
            steps[PHASES[index][1]] = at - start
            start, index = at, index + 1
            current = "job end, log followed, process exit"
    steps[current] = total - start
    return {name: round(seconds, 2) for name, seconds in steps.items()}


def pressluft(stack: Stack, home: Path, server: S3Server, bucket: str) -> Run:
    """``pressluft backup create bench production --wait`` in a process of its own."""
    settle()
    env = dict(os.environ, PRESSLUFT_HOME=str(home), PRESSLUFT_SESSION=stack.token)
    started = time.perf_counter()
    with LogTail(stack.core.rt.paths.job_logs_dir, started) as tail:
        done = subprocess.run([sys.executable, "-c", MEASURED_CLI, "backup", "create", SITE,
                               "production", "--wait"], env=env, capture_output=True,
                              text=True, check=False)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pressluft backup create exited {done.returncode}:\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    peak_kib = int(done.stderr.rsplit("peak_rss_kib=", 1)[1].split()[0])
    newest = stack.core.backups.list(stack.token, SITE, "production")[0]
    backup = Backup.get_by_id(newest.id)
    if backup.status != "completed" or not backup.checksum:
        raise RuntimeError(f"backup {backup.id} is {backup.status}")
    size = server.client().head_object(Bucket=bucket, Key=backup.storage_path)[
        "ContentLength"]
    if size != backup.size_bytes:
        raise RuntimeError(f"object has {size} bytes, the backup recorded {backup.size_bytes}")
    empty_bucket(server, bucket)
    return Run(seconds, size, peak_kib, phases(tail.lines, seconds))


# -- the baseline ------------------------------------------------------------------------

def remote_script(stack: Stack, env: Environment) -> str:
    """``mysqldump > tmp/db.sql; tar db.sql wp-content uploads | zstd`` as root on the node:
    the same members as the node's ``backup-stream`` (its dump staged plain, not zstd)."""
    root = stack.sites_root / env.site_id / env.id
    release = os.path.realpath(root / "current")
    tmp, dump = root / "tmp", f"baseline-{uuid.uuid4().hex[:8]}.sql"
    q = shlex.quote
    return (f"trap 'rm -f {q(str(tmp / dump))}' EXIT; set -e; "
            "mysqldump --single-transaction --quick --skip-lock-tables --no-tablespaces "
            f"--default-character-set=utf8mb4 {q(node_names(env.id))} > {q(str(tmp / dump))}; "
            "echo dumped >&2; "
            f"tar -cf - -C {q(str(tmp))} {q(dump)} -C {q(release)} wp-content "
            f"-C {q(str(root / 'shared'))} uploads | zstd -q -c -3 -T0")


def baseline(stack: Stack, env: Environment, server: S3Server, bucket: str,
             key_file: Path) -> Run:
    port, user = sshd()
    ssh = ["ssh", "-i", str(key_file), "-p", str(port), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", f"{user}@127.0.0.1",
           shlex.join(["sudo", "-n", "sh", "-c", remote_script(stack, env)])]
    key = f"baseline/{uuid.uuid4().hex}.tar.zst"
    settle()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BASELINE, server.endpoint_url, bucket, key,
                           json.dumps(ssh)], capture_output=True, text=True, check=False,
                          env=dict(os.environ, BENCH_S3_KEY=ACCESS_KEY,
                                   BENCH_S3_SECRET=SECRET_KEY))
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"baseline exited {done.returncode}:\n{done.stdout[-2000:]}\n"
                           f"{done.stderr[-3000:]}")
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    size = server.client().head_object(Bucket=bucket, Key=key)["ContentLength"]
    empty_bucket(server, bucket)
    steps = {"process start, import boto3": marks["imported"],
             "ssh + mysqldump > tmp/db.sql": marks["dumped"] - marks["imported"],
             "tar | zstd -T0 | ssh | upload_fileobj": marks["uploaded"] - marks["dumped"],
             "process exit": seconds - marks["uploaded"]}
    return Run(seconds, size, marks["peak_rss_kib"],
               {name: round(value, 2) for name, value in steps.items()})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench backup")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db-mb", type=float, default=200,
                        help="size of the generated dump loaded into production")
    parser.add_argument("--uploads-mb", type=float, default=1000)
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds of both backups; the fastest of each counts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pressluft-bench-backup-") as tmp, \
            s3_server() as server, real_stack(Path(tmp) / "home") as stack:
        bucket = use_storage(stack, server)
        key_file = Path(tmp) / "control_key"
        key_file.write_bytes(ensure_control_key(stack.core.rt.secrets).export_private_key())
        key_file.chmod(0o600)
        stack.run(lambda: stack.core.sites.create(stack.token, "Bench", SITE, node=NODE))
        production = stack.env(SITE, "production")
        uploads = uploads_dir(stack, production)
        dump_bytes = fill_database(production, Path(tmp) / "dump.sql", args.db_mb)
        fill_uploads(uploads, args.uploads_mb, node_names(production.id))
        files, upload_bytes = tree_size(uploads)
        db_bytes = database_bytes(node_names(production.id))
        ours: list[Run] = []
        bare: list[Run] = []
        for number in range(args.repeat):
            pressluft_first = number % 2 == 0
            if pressluft_first:
                ours.append(pressluft(stack, Path(tmp) / "home", server, bucket))
            bare.append(baseline(stack, production, server, bucket, key_file))
            if not pressluft_first:
                ours.append(pressluft(stack, Path(tmp) / "home", server, bucket))
        moto_rss = server.rss_mib()
    fastest = min(ours, key=lambda run: run.seconds)
    floor = min(bare, key=lambda run: run.seconds)
    result = {
        "ratio": round(fastest.seconds / floor.seconds, 3),
        "pressluft_seconds": round(fastest.seconds, 2),
        "baseline_seconds": round(floor.seconds, 2),
        "pressluft_mb_per_s": round(fastest.archive_bytes / 1e6 / fastest.seconds, 1),
        "baseline_mb_per_s": round(floor.archive_bytes / 1e6 / floor.seconds, 1),
        "pressluft_peak_rss_mib": round(max(run.peak_rss_kib for run in ours) / 1024, 1),
        "baseline_peak_rss_mib": round(max(run.peak_rss_kib for run in bare) / 1024, 1),
        "pressluft_archive_mb": round(fastest.archive_bytes / 1e6, 1),
        "baseline_archive_mb": round(floor.archive_bytes / 1e6, 1),
        "db_dump_mb": round(dump_bytes / 1e6, 1),
        "db_innodb_mb": round(db_bytes / 1e6, 1),
        "uploads_mb": round(upload_bytes / 1e6, 1),
        "uploads_files": files,
        "pressluft_runs": [round(run.seconds, 2) for run in ours],
        "baseline_runs": [round(run.seconds, 2) for run in bare],
        "pressluft_steps": fastest.steps,
        "baseline_steps": floor.steps,
        "moto_rss_mib_at_end": round(moto_rss, 1),
        # Other work on the node moves both times: this says how busy it was.
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
