"""The replacer in several processes: byte for byte what one process writes, in input order,
and every way it can end badly ends with a clear status instead of a hang or a quiet gap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench._wpdump import NEW_URL, OLD_URL, generate
from pressluft_core.wordpress.search_replace import Replacer, default_jobs
from tests.wordpress.helpers import insert, ser

ROOT = Path(__file__).resolve().parents[2]
MODULE = [sys.executable, "-m", "pressluft_core.wordpress.search_replace"]
PAIR = (b"http://old.example", b"https://new.example")

# stream_parallel forks: it runs in a process of its own, never in pytest's.
DRIVER = """
import sys
from pressluft_core.wordpress.search_replace import Replacer, stream_parallel
replacer = Replacer([(b"http://old.example", b"https://new.example")])
peaks = stream_parallel(replacer, int(sys.argv[1]), 0, 1, int(sys.argv[2]))
print(replacer.replaced, replacer.skipped, len(peaks), file=sys.stderr)
"""


def _parallel(data: bytes, jobs: int, block: int) -> tuple[bytes, list[int]]:
    done = subprocess.run([sys.executable, "-c", DRIVER, str(jobs), str(block)], input=data,
                          capture_output=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout, [int(n) for n in done.stderr.split()]


def _dump() -> bytes:
    """Short and long lines (longer than the small blocks below, so a line's start is carried
    from one process to the next, or read in several goes), serialized values, a malformed
    one (skipped), a line with no URL, and no newline at the very end."""
    rows = [ser({"u": f"http://old.example/{i}", "t": "über " * i}) for i in range(60)]
    rows += [b"plain http://old.example/" + b"y" * i for i in range(60)]
    lines = [b"-- dump\n", insert(*rows), insert(b"no url here"), insert(*rows[::7]),
             insert(b'a:1:{s:5:"http://old.example";}'),
             *[insert(f"short http://old.example/{i}".encode()) for i in range(200)],
             b"x" * 20_000 + b" http://old.example\n", b"tail http://old.example"]
    return b"".join(lines)


@pytest.mark.parametrize(("jobs", "block"), [(2, 64), (3, 1000), (4, 4096), (2, 1 << 20)])
def test_several_processes_write_what_one_writes(jobs: int, block: int) -> None:
    dump = _dump()
    one = Replacer([PAIR])
    expected = one.rewrite(dump)
    out, (replaced, skipped, processes) = _parallel(dump, jobs, block)
    assert out == expected
    assert (replaced, skipped, processes) == (one.replaced, one.skipped, jobs)
    assert b"http://old.example/5" not in out and skipped == 1


@pytest.mark.parametrize("data", [b"", b"\n", b"no newline http://old.example",
                                  b"http://old.example\n" * 3])
def test_tiny_inputs(data: bytes) -> None:
    assert _parallel(data, 3, 8)[0] == Replacer([PAIR]).rewrite(data)


def test_the_benchmark_dump_through_the_command_line(tmp_path: Path) -> None:
    dump = tmp_path / "dump.sql"
    generate(dump, 3)
    outputs = []
    for jobs in ("1", "2", "3"):
        with dump.open("rb") as src:
            done = subprocess.run([*MODULE, "--stats", "--jobs", jobs, OLD_URL, NEW_URL],
                                  stdin=src, capture_output=True, cwd=ROOT, timeout=120,
                                  check=False)
        assert done.returncode == 0, done.stderr
        assert f"in {jobs} process(es)".encode() in done.stderr
        outputs.append((done.stdout, done.stderr.splitlines()[0]))
    assert outputs[0] == outputs[1] == outputs[2]  # same bytes, same count of replacements


@pytest.mark.parametrize("args", [["--jobs"], ["--jobs", "0"], ["--jobs", "x"],
                                  ["--jobs", "65"], ["--jobs", "-1"]])
def test_bad_jobs_exit_2_naming_it(args: list[str]) -> None:
    done = subprocess.run([*MODULE, *args, "http://old.example", "https://new.example"],
                          input=b"", capture_output=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 2
    assert b"--jobs takes a number of processes from 1 to 64" in done.stderr


def test_default_is_at_most_two_processes() -> None:
    assert 1 <= default_jobs() <= 2


def test_output_closed_early_exits_1_with_every_process_gone(tmp_path: Path) -> None:
    source = tmp_path / "dump.sql"
    source.write_bytes(b"http://old.example " * 2_000_000 + b"\n"
                       + (b"http://old.example\n" * 500_000))
    with source.open("rb") as stdin:
        proc = subprocess.Popen([*MODULE, "--jobs", "3", *map(os.fsdecode, PAIR)],
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=ROOT)
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(10) == b"https://ne"
        workers = _children(proc.pid)
        proc.stdout.close()
        assert proc.wait(timeout=60) == 1
        assert b"output closed early" in proc.stderr.read()
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_killed_worker_fails_the_run_with_exit_3() -> None:
    proc = subprocess.Popen([*MODULE, "--jobs", "2", *map(os.fsdecode, PAIR)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b"http://old.example\n" * 1000)  # a first block, still being read
    proc.stdin.flush()
    workers = _children(proc.pid)
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    try:
        proc.stdin.write(b"http://old.example\n" * 200_000)
        proc.stdin.close()
    except BrokenPipeError:  # the replacer may have stopped reading already: fine
        pass
    assert proc.wait(timeout=60) == 3
    assert b"1 worker process(es) failed (signal 9); the output is incomplete" in (
        proc.stderr.read())


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux), once it has started them."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    for _ in range(200):
        found = [int(n) for n in path.read_text().split()] if path.exists() else []
        if found:
            return found
        time.sleep(0.05)
    return []


def test_a_killed_parent_leaves_no_worker_behind() -> None:
    proc = subprocess.Popen([*MODULE, "--jobs", "2", *map(os.fsdecode, PAIR)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    assert proc.stdin is not None
    proc.stdin.write(b"http://old.example\n" * 1000)
    proc.stdin.flush()
    workers = _children(proc.pid)
    assert len(workers) == 1
    proc.kill()
    proc.wait(timeout=60)
    for _ in range(200):  # the worker's turn can never come: it exits (or is a zombie)
        if not _running(workers[0]):
            break
        time.sleep(0.05)
    proc.stdin.close()
    assert not _running(workers[0])


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_no_processes_is_refused_before_anything_starts() -> None:
    from pressluft_core.wordpress.search_replace import stream_parallel
    with pytest.raises(ValueError, match="jobs must be at least 1, not 0"):
        stream_parallel(Replacer([PAIR]), 0)
