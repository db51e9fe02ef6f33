"""Several processes taking turns on one stream (see the comment below); the output keeps
the input's order.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import sys
from typing import NamedTuple

from .engine import Replacer, _write
from .forms import DEFAULT_JOBS, PARALLEL_BLOCK

# Several processes -------------------------------------------------------------------
#
# The rewrite of a block of whole lines needs nothing from any other block, so ``jobs``
# processes take turns: each in turn reads a block straight from the input, hands the cut-off
# start of its last line and the turn to read on to the next, rewrites its block while the
# others read and rewrite theirs, and writes it when the turn to write reaches it. Both turns
# go round the same ring, so blocks come out in the order they came in. Nothing but the
# cut-off line starts (through shared memory) and one-byte turns (through pipes) passes
# between processes: each block is read and written where it is rewritten.

TURN = struct.Struct("<qB")  # the turn to read: bytes carried over, input ended
COUNTS = struct.Struct("<qq")  # what a worker replaced and skipped, sent when it is done


class WorkerFailed(Exception):
    """A worker process died or failed (its traceback, if any, is on stderr)."""


class _TurnLost(Exception):
    """A neighbour in the ring is gone: the turn will never come."""


class _Ring(NamedTuple):
    """One process's place in the ring."""

    read_in: int        # the turn to read arrives here (with the carried length)
    read_out: int       # and is handed on here
    write_in: int       # the turn to write arrives here
    write_out: int
    carry_in: mmap.mmap  # where the previous reader left its cut-off line start
    carry_out: mmap.mmap  # where this one leaves its own, for the next


def default_jobs() -> int:
    """Processes to use: two where fork exists and two cores may run them, else one. More
    would mostly take cores from ``mysqldump`` and ``mariadb`` in the clone pipeline, where
    the import, not the rewrite, sets the pace."""
    if not hasattr(os, "fork"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(DEFAULT_JOBS, cpus))


def _receive(fd: int, size: int) -> bytes:
    """Exactly ``size`` bytes from the pipe ``fd``; :class:`_TurnLost` if it closes first."""
    data = b""
    while len(data) < size:
        got = os.read(fd, size - len(data))
        if not got:
            raise _TurnLost
        data += got
    return data


def _hand_on(fd: int, token: bytes) -> None:
    """Pass a turn on; a neighbour that has finished no longer listens, which is fine."""
    with contextlib.suppress(BrokenPipeError):
        os.write(fd, token)


def _read_block(src: int, data: bytearray, carried: memoryview, block: int,
                ) -> tuple[bytearray, int, int, bool]:
    """(data, cut, filled, ended): ``carried`` and then at least ``block`` bytes read from
    ``src`` into ``data``, more until a newline came; ``data[:cut]`` are whole lines (all of
    it once the input ended), ``data[cut:filled]`` the start of the next line (shorter than
    ``block``: it follows the last newline of the last read)."""
    filled = search = len(carried)
    data[:filled] = carried
    want = filled + block
    while True:
        if len(data) < want:
            data.extend(bytes(want - len(data)))
        with memoryview(data) as view:
            got = os.readv(src, [view[filled:want]])
        if not got:
            return data, filled, filled, True
        filled += got
        if filled == want:
            cut = data.rfind(b"\n", search, filled) + 1
            if cut:
                return data, cut, filled, False
            search, want = filled, filled + block


def _take_turns(replacer: Replacer, ring: _Ring, src: int, dst: int, block: int) -> None:
    """One process's part: read, hand on, rewrite, write in turn, until the input ends."""
    data = bytearray(2 * block)
    with open(dst, "wb", buffering=0, closefd=False) as output:  # unbuffered: no copy
        while True:
            carried, ended = TURN.unpack(_receive(ring.read_in, TURN.size))
            if ended:
                _hand_on(ring.read_out, TURN.pack(0, 1))
                return
            with memoryview(ring.carry_in) as carry:
                data, cut, filled, ended = _read_block(src, data, carry[:carried], block)
            with memoryview(data) as view:
                ring.carry_out[:filled - cut] = view[cut:filled]
            _hand_on(ring.read_out, TURN.pack(filled - cut, ended))
            pieces = replacer._rewrite(data, 0, cut)
            out = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            del pieces  # views of ``data``: it may grow next turn
            _receive(ring.write_in, 1)
            _write(output, out)
            del out
            _hand_on(ring.write_out, b"w")
            if ended:
                return


def _worker(replacer: Replacer, ring: _Ring, src: int, dst: int, block: int,
            report: int) -> None:
    """A forked worker: takes its turns, reports its counts, exits 0; 1 if the output
    closed, 4 if a neighbour vanished, 3 on anything else (traceback on stderr)."""
    code = 3
    try:
        _take_turns(replacer, ring, src, dst, block)
        os.write(report, COUNTS.pack(replacer.replaced, replacer.skipped))
        code = 0
    except BrokenPipeError:
        code = 1
    except _TurnLost:
        code = 4
    except BaseException:  # whatever it is, the parent must hear of it
        import traceback
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _reap(pids: list[int], stop: bool, one_ending: bool = False,
          ) -> list[tuple[int | None, int]]:
    """(wait status, peak RSS in KiB) of each worker once it is gone. With ``stop``, those
    still running are killed, and their status is None: only the ones that ended by
    themselves say what went wrong. ``one_ending``: a turn was lost, so a worker is exiting;
    it is waited for first, so that it is not taken for one this process killed."""
    ended: dict[int, tuple[int | None, int]] = {}
    if one_ending:
        pid, status, usage = os.wait4(-1, 0)
        ended[pid] = (status, usage.ru_maxrss)
    if stop:
        import signal
        for pid in pids:
            if pid not in ended:
                got, status, usage = os.wait4(pid, os.WNOHANG)
                if got:
                    ended[pid] = (status, usage.ru_maxrss)
                else:
                    os.kill(pid, signal.SIGKILL)
    for pid in pids:
        if pid not in ended:
            _, status, usage = os.wait4(pid, 0)
            ended[pid] = (None if stop else status, usage.ru_maxrss)
    return [ended[pid] for pid in pids]


def _verdict(reaped: list[tuple[int | None, int]]) -> Exception | None:
    """What the workers' exits say went wrong, if anything: the output closing
    (:class:`BrokenPipeError`) or a worker failing (:class:`WorkerFailed`). Exit 4 only says
    that a neighbour stopped, which another status explains."""
    codes = [os.WEXITSTATUS(s) if os.WIFEXITED(s) else -os.WTERMSIG(s)
             for s, _ in reaped if s is not None]
    if 1 in codes:
        return BrokenPipeError("output closed early")
    failed = [c for c in codes if c not in (0, 1, 4)]
    if failed:
        how = ", ".join(f"signal {-c}" if c < 0 else f"exit {c}" for c in failed)
        return WorkerFailed(f"{len(failed)} worker process(es) failed ({how})")
    return None


def stream_parallel(replacer: Replacer, jobs: int, src: int = 0, dst: int = 1,
                    block: int = PARALLEL_BLOCK) -> list[int]:
    """Rewrite the file descriptor ``src`` into ``dst`` with ``jobs`` processes (this one
    and ``jobs - 1`` forked ones; see the comment above), adding the workers' counts to
    ``replacer``'s. Returns each process's peak RSS in KiB. Raises
    :class:`BrokenPipeError` if the output closed early and :class:`WorkerFailed` if a
    worker died; either way every worker is gone when it returns or raises. Meant for a
    process with no other children (the command line): when a turn is lost it waits for
    whichever child ends first."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    carries = [mmap.mmap(-1, block) for _ in range(jobs)]
    reads, writes = [os.pipe() for _ in range(jobs)], [os.pipe() for _ in range(jobs)]
    report_in, report_out = os.pipe()
    os.write(reads[0][1], TURN.pack(0, 0))  # this process reads and writes first
    os.write(writes[0][1], b"w")
    rings = [_Ring(reads[w][0], reads[(w + 1) % jobs][1], writes[w][0],
                   writes[(w + 1) % jobs][1], carries[w], carries[(w + 1) % jobs])
             for w in range(jobs)]
    ends = [fd for pair in reads + writes for fd in pair]
    pids: list[int] = []
    try:
        for w in range(1, jobs):
            pid = os.fork()
            if pid == 0:
                mine = set(rings[w][:4])
                for fd in ends:
                    if fd not in mine:
                        os.close(fd)
                os.close(report_in)
                _worker(replacer, rings[w], src, dst, block, report_out)
            pids.append(pid)
    except BaseException:
        _reap(pids, stop=True)
        raise
    for fd in [*(fd for fd in ends if fd not in rings[0][:4]), report_out]:
        os.close(fd)
    try:
        _take_turns(replacer, rings[0], src, dst, block)
    except _TurnLost:
        raise _verdict(_reap(pids, stop=True, one_ending=True)) or WorkerFailed(
            "a worker process stopped without saying why") from None
    except BaseException:  # the output closed, an interrupt, a bug: no worker outlives it
        _reap(pids, stop=True)
        raise
    finally:
        for fd in rings[0][:4]:
            os.close(fd)
    with open(report_in, "rb") as report:  # to its end: every worker has exited
        reports = report.read()
    reaped = _reap(pids, stop=False)
    problem = _verdict(reaped)
    if problem is not None:
        raise problem
    for i in range(0, len(reports), COUNTS.size):
        replaced, skipped = COUNTS.unpack_from(reports, i)
        replacer.replaced += replaced
        replacer.skipped += skipped
    return [_own_peak_kib(), *(peak for _, peak in reaped)]


def _own_peak_kib() -> int:
    """This process's peak RSS in KiB: Linux's ``VmHWM``, which starts afresh at exec (the
    ``ru_maxrss`` of ``getrusage`` keeps the peak of whatever process exec'd this one);
    elsewhere ``ru_maxrss``, or 0 without the ``resource`` module."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
