"""``python -m bench fleet``: provisioning a bare node and moving an environment between
two nodes through Pressluft's real jobs, against the bare pipes an operator would type,
on the same two nodes, in the same run.

``python -m bench fleet [--json] [--db-mb 200] [--uploads-mb 500] [--repeat 1]``

Needs root and the test fleet (scripts/lib/nodes.sh: node bases, the bridge, the apt
proxy; started here the way scripts/test starts them). Two bare Debian 12 nodes are booted
with systemd-nspawn (tests/fleet, imported rather than copied: the node machinery is the
tests' own) and reached over SSH on their own addresses, as a control plane reaches a VPS.

Timed:
- ``provision_s``: ``node_provision`` of a bare node (packages through the host's apt
  proxy, warm after the first node; services enabled through systemd; nginx checked).
- ``move_s``: ``env move`` of a production environment holding a ``bench/_wpdump.py``
  database of ``--db-mb`` MB and ``--uploads-mb`` MB of random uploads, from the first node
  to the second, until the job has succeeded: prepare, stream (source ``backup-stream`` →
  control plane → target ``restore-stream``), swap, health check, switch.
- ``baseline_s``: the same data, the same two nodes, through the same host:
  ``ssh a 'mysqldump --single-transaction --quick db | zstd -3 -T0' | ssh b 'zstd -d |
  mariadb scratch'`` then ``ssh a 'tar -C uploads -cf - .' | ssh b 'tar -C dir -xf -'``.
  The floor for "this site's data is on the other node": no user, pool, nginx, check.
Figures: ``move_ratio`` = move_s / baseline_s (target ≤ 1.2), both halves of the
baseline, the sizes, the move's seconds per step, and the CPU seconds the control plane
spent relaying each (here it shares the machine's cores with both nodes; in production it
does not). With ``--repeat`` > 1 the environment
is moved back and forth (its old copy removed between) and the fastest of each counts.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import _wpdump
from bench._report import report
from bench._services import ROOT
from bench.clone import PLUGIN_TABLES
from pressluft_core.app import Pressluft
from pressluft_core.jobs.handlers.envctl import canonical_url, node_names
from pressluft_core.models import Job
from pressluft_core.remote.keys import public_key_line
from tests.fleet.fleet import Fleet, serve_files
from tests.fleet.nspawn import NspawnNode
from tests.fleet.world import WP_SOURCE
from tests.jobs.test_remote_jobs import run_job

ADMIN = ("bench@example.com", "Bench Admin", "correct horse battery staple")
FILL_UPLOADS = """
import math, os, random, sys
root, size_mb, owner = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
target, written, image = int(size_mb * 1_000_000), 0, 0
while written < target:
    folder = os.path.join(root, str(2019 + rng.randrange(6)), f"{rng.randrange(1, 13):02d}")
    os.makedirs(folder, exist_ok=True)
    original = int(math.exp(rng.uniform(math.log(100_000), math.log(2_000_000))))
    for suffix, size in {"": original, "-1024x683": max(50_000, original // 3),
                         "-300x200": rng.randrange(15_000, 40_000),
                         "-150x150": rng.randrange(5_000, 12_000)}.items():
        with open(os.path.join(folder, f"image-{image}{suffix}.jpg"), "wb") as out:
            out.write(os.urandom(size))
        written += size
    image += 1
os.system(f"chown -R {owner}:{owner} {root}")
"""


def prepare_fleet() -> None:
    """The test script's own set-up of the fleet (bases, bridge, apt proxy); its exports
    are what tests/fleet reads."""
    script = (f'cd "{ROOT}" && ROOT="{ROOT}" && source scripts/lib/services.sh && '
              'source scripts/lib/nodes.sh && prepare_fleet >&2 && '
              'for v in ${!PRESSLUFT_TEST_FLEET@}; do echo "$v=${!v}"; done')
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    os.environ.update(dict(line.split("=", 1) for line in out.stdout.splitlines()
                           if "=" in line))
    if not os.environ.get("PRESSLUFT_TEST_FLEET"):
        raise SystemExit("the test fleet could not be prepared (needs root; see "
                         "scripts/lib/nodes.sh)")


def in_node(node: NspawnNode, argv: list[str], stdin: object = None) -> None:
    subprocess.run(["nsenter", "-t", str(node.leader_pid), "-a", "--", *argv], stdin=stdin,
                   check=True, stdout=subprocess.DEVNULL)


def ssh(node: NspawnNode, key: Path, command: str) -> list[str]:
    return ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            f"root@{node.address}", command]


def pipe(left: list[str], right: list[str]) -> float:
    started = time.perf_counter()
    first = subprocess.Popen(left, stdout=subprocess.PIPE)
    second = subprocess.run(right, stdin=first.stdout, check=False)
    assert first.stdout is not None
    first.stdout.close()
    if first.wait() != 0 or second.returncode != 0:
        raise RuntimeError(f"{left[-1]!r} | {right[-1]!r} failed")
    return time.perf_counter() - started


def baseline(source: NspawnNode, target: NspawnNode, key: Path, db: str,
             uploads: str) -> tuple[float, float]:
    target.exec(["sh", "-c", "mariadb -e 'DROP DATABASE IF EXISTS bench_base; CREATE "
                 "DATABASE bench_base'; rm -rf /var/tmp/bench-base; mkdir /var/tmp/bench-base"])
    subprocess.run(["sync"], check=True)
    db_s = pipe(ssh(source, key, f"mysqldump --single-transaction --quick {db} | "
                                 "zstd -q -3 -T0"),
                ssh(target, key, "zstd -q -d | mariadb bench_base"))
    files_s = pipe(ssh(source, key, f"tar -C {uploads} -cf - ."),
                   ssh(target, key, "tar -C /var/tmp/bench-base -xf -"))
    target.exec(["sh", "-c", "mariadb -e 'DROP DATABASE bench_base'; "
                 "rm -rf /var/tmp/bench-base"])
    return db_s, files_s


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(core: Pressluft, job_id: str) -> tuple[float, Job]:
    started = time.perf_counter()
    row = run_job(core, job_id)
    if row.status != "succeeded":
        raise RuntimeError(f"{row.job_type} {row.status}: {row.error_message}")
    return time.perf_counter() - started, row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fleet")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db-mb", type=float, default=200)
    parser.add_argument("--uploads-mb", type=float, default=500)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("needs root (nodes are systemd-nspawn containers)")
    prepare_fleet()
    work = Path(tempfile.mkdtemp(prefix="pressluft-bench-fleet-"))
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    with Fleet(authorized_keys=key.with_suffix(".pub").read_text()) as fleet:
        nodes = fleet.boot("bookworm", "bookworm")
        core = Pressluft.open(work / "home")
        try:
            figures = measure(core, nodes, key, work, args)
        finally:
            core.close()
    report(figures, args.json)
    return 0


def measure(core: Pressluft, nodes: list[NspawnNode], key: Path, work: Path,
            args: argparse.Namespace) -> dict[str, object]:
    core.auth.create_admin(*ADMIN)
    token, _ = core.auth.login(ADMIN[0], ADMIN[2])
    for node in nodes:
        node.authorize(public_key_line(core.rt.secrets))
    served = work / "download"
    served.mkdir()
    subprocess.run(["tar", "-czhf", str(served / "wordpress.tar.gz"), "-C",
                    str(WP_SOURCE.parent), WP_SOURCE.name], check=True)
    core.settings.set(token, "wordpress_source", serve_files(served) + "/wordpress.tar.gz")
    names = ["node-a", "node-b"]
    for name, node in zip(names, nodes, strict=True):
        core.nodes.register(token, name, node.address, public_ip=node.address)
    provision_s, _ = timed(core, core.nodes.provision(token, "node-a").id)
    timed(core, core.nodes.provision(token, "node-b").id)
    timed(core, core.sites.create(token, "Bench", "bench", node="node-a").id)
    env = core.environments.get(token, "bench", "production")
    db = node_names(env.id)
    dump = work / "dump.sql"
    _wpdump.OLD_URL = canonical_url(env)  # links for this site, so lengths add up
    dump_bytes = _wpdump.generate(dump, args.db_mb)
    nodes[0].exec(["mariadb", db], input=PLUGIN_TABLES + "DELETE FROM wp_postmeta WHERE "
                  "post_id >= 2;\nDELETE FROM wp_posts WHERE ID >= 2;\n")
    with dump.open("rb") as source:
        in_node(nodes[0], ["mariadb", "--default-character-set=utf8mb4", db], stdin=source)
    dump.unlink()
    uploads = f"/var/www/sites/{env.site_id}/{env.id}/shared/uploads"
    nodes[0].exec(["python3", "-c", FILL_UPLOADS, uploads, str(args.uploads_mb), db])

    moves: list[float] = []
    bases: list[tuple[float, float]] = []
    steps: dict[str, float] = {}
    relay_cpu: dict[str, float] = {}
    here = 0
    for _ in range(args.repeat):
        there = 1 - here
        ssh_cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
        bases.append(baseline(nodes[here], nodes[there], key, db, uploads))
        relay_cpu["baseline"] = cpu_seconds(resource.RUSAGE_CHILDREN) - ssh_cpu
        subprocess.run(["sync"], check=True)
        own_cpu = cpu_seconds(resource.RUSAGE_SELF)
        seconds, row = timed(core, core.moves.move(token, "bench", "production",
                                                   to=names[there], confirm="production").id)
        relay_cpu["move"] = cpu_seconds(resource.RUSAGE_SELF) - own_cpu
        moves.append(seconds)
        steps = step_seconds(core, row.id)
        timed(core, core.moves.cleanup(token, "bench", "production").id)
        here = there
    best_base = min(bases, key=sum)
    move_s, baseline_s = min(moves), sum(best_base)
    return {
        "provision_s": round(provision_s, 2), "move_s": round(move_s, 2),
        "baseline_s": round(baseline_s, 2), "move_ratio": round(move_s / baseline_s, 3),
        "baseline_db_s": round(best_base[0], 2), "baseline_files_s": round(best_base[1], 2),
        "move_steps_s": steps, "dump_mb": round(dump_bytes / 1e6, 1),
        # CPU the control plane spent relaying (the worker in this process; the bare
        # pipes' ssh clients): on these test machines it competes with both nodes
        "move_control_plane_cpu_s": round(relay_cpu["move"], 2),
        "baseline_ssh_clients_cpu_s": round(relay_cpu["baseline"], 2),
        "uploads_mb": args.uploads_mb, "move_runs_s": [round(m, 2) for m in moves],
        "baseline_runs_s": [round(sum(b), 2) for b in bases], "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def step_seconds(core: Pressluft, job_id: str) -> dict[str, float]:
    """Seconds per step, from the step markers' stamps in the job's log (whole seconds)."""
    from pressluft_core.clock import parse_iso
    from pressluft_core.jobs.logs import log_path

    marks = []
    for line in log_path(core.rt.paths.job_logs_dir, job_id).read_text().splitlines():
        stamp, _, rest = line.partition(" ")
        if rest.startswith("---- ") or rest.startswith("info succeeded"):
            marks.append((parse_iso(stamp), rest[5:].strip()))
    return {title: (marks[i + 1][0] - at).total_seconds()
            for i, (at, title) in enumerate(marks[:-1])}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
