"""The command line (``search-replace OLD NEW …``), and the same rewrite stated as SQL
for values that are not serialized (``sql_rewrites``).
"""

from __future__ import annotations

import os
import re
import sys
from typing import NamedTuple

from .engine import Replacer
from .forms import NOT_AFTER, USAGE, WRITE_BUFFER, build_forms
from .parallel import WorkerFailed, _own_peak_kib, default_jobs, stream_parallel


class Options(NamedTuple):
    """The command line, parsed."""

    pairs: list[tuple[bytes, bytes]]
    stats: bool  # report replacements and peak memory on stderr
    jobs: int  # processes


def parse_args(argv: list[str]) -> Options:
    """The options from the command line; ValueError with a message when wrong."""
    stats, jobs = False, default_jobs()
    while argv and argv[0] in ("--stats", "--jobs"):
        if argv[0] == "--stats":
            stats, argv = True, argv[1:]
            continue
        if len(argv) < 2 or not argv[1].isdigit() or not 1 <= int(argv[1]) <= 64:
            raise ValueError("--jobs takes a number of processes from 1 to 64")
        jobs, argv = int(argv[1]), argv[2:]
    args = [os.fsencode(a) for a in argv]
    if not args or len(args) % 2:
        raise ValueError("expected OLD NEW pairs")
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
    if any(not old for old, _ in pairs):
        raise ValueError("OLD must not be empty")
    build_forms(pairs)
    return Options(pairs, stats, jobs)


# -- the same rewrite inside MariaDB, for values that are not serialized ------------------

URL_ONLY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([A-Za-z0-9.-]+(?::[0-9]+)?)")
# A value the replacer may read as serialized: broader than SERIALIZED (any leading
# whitespace or control byte, any digit or none after the colon), so that what it leaves
# out is certainly plain text. For MariaDB's REGEXP (PCRE), case-sensitive whatever the
# column's collation.
SQL_MAYBE_SERIALIZED = "(?-i)^[[:space:][:cntrl:]]*[asOCE]:"


def sql_rewrites(pairs: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """``(pattern, replacement)`` steps for MariaDB's ``REGEXP_REPLACE`` that, applied one
    after the other to a stored value that is not serialized (does not match
    ``SQL_MAYBE_SERIALIZED``), give exactly what this replacer writes for it; None where
    that is not promised, and the replacer must do the rows.

    Promised for pairs of ``scheme://host[:port]`` URLs with distinct old hosts, where no
    old host is inside another pair's old host or inside any new URL. On plain text the
    forms of such a pair are ``scheme://host``, ``//host`` and their JSON-escaped
    spellings, none checked before, all ending with the host boundary: so each match of
    ``//host`` or ``\\/\\/host`` gets the new host, and where the old scheme leads it,
    the new scheme (the full form is the longest match there). Steps apply in turn, not
    in one pass as the replacer does; the conditions above are what keep a later step from
    matching what an earlier one wrote, or a boundary from seeing different bytes: a new
    URL starts with the same kind of byte as the old one (a letter, ``/`` or ``\\``)."""
    parsed = [(URL_ONLY.fullmatch(old), URL_ONLY.fullmatch(new)) for old, new in pairs]
    if not parsed or any(o is None or n is None for o, n in parsed):
        return None
    hosts = [o.group(2) for o, _ in parsed if o is not None]
    for i, host in enumerate(hosts):
        if any(host in other for j, other in enumerate(hosts) if j != i) or \
                any(host in new for _, new in pairs):
            return None
    steps: list[tuple[str, str]] = []
    boundary = NOT_AFTER.decode()
    for old, new in parsed:
        assert old is not None and new is not None
        host = re.escape(old.group(2)) + boundary
        if old.group(1) != new.group(1):
            steps.append((f"(?-i){re.escape(old.group(1))}(?=:(?://|\\\\/\\\\/){host})",
                          new.group(1)))
        steps.append((f"(?-i)(?<=//|\\\\/\\\\/){host}", new.group(2)))
    return steps


def _run(replacer: Replacer, jobs: int) -> list[int]:
    """Rewrite stdin to stdout; each process's peak RSS in KiB."""
    if jobs > 1 and hasattr(os, "fork"):
        sys.stdout.flush()  # nothing buffered may be written twice, by a forked copy too
        sys.stderr.flush()
        return stream_parallel(replacer, jobs, sys.stdin.fileno(), sys.stdout.fileno())
    # buffered whatever PYTHONUNBUFFERED says: big writes, and no partial ones to lose
    with open(sys.stdout.fileno(), "wb", buffering=WRITE_BUFFER, closefd=False) as out:
        replacer.stream(sys.stdin.buffer, out)
    return [_own_peak_kib()]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: exit 0 on success, 2 on bad arguments, 1 if the output closes,
    3 if a worker process failed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    try:
        options = parse_args(argv)
    except ValueError as exc:
        print(f"{USAGE}\nsearch_replace: {exc}", file=sys.stderr)
        return 2
    replacer = Replacer(options.pairs)
    try:
        peaks = _run(replacer, options.jobs)
    except BrokenPipeError:  # what is left in a buffer goes nowhere, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("search_replace: output closed early", file=sys.stderr)
        return 1
    except WorkerFailed as exc:
        print(f"search_replace: {exc}; the output is incomplete", file=sys.stderr)
        return 3
    if replacer.skipped:
        print(f"search_replace: left {replacer.skipped} occurrence(s) inside malformed "
              "serialized data unchanged", file=sys.stderr)
    if options.stats:
        print(f"search_replace: {replacer.replaced} replacement(s)", file=sys.stderr)
        print(f"search_replace: peak RSS {sum(peaks) / 1024:.1f} MB in {len(peaks)} "
              "process(es)", file=sys.stderr)
    return 0
