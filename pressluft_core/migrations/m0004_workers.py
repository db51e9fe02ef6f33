"""Migration 4: ``workers`` — which workers are alive, and how they run.

The console starts its own embedded worker only when no ``pressluft worker`` daemon has
been seen recently, and tells the operator which of the two runs the jobs (a daemon keeps
jobs running when the operator's SSH session drops; the embedded worker does not).
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "workers"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute(
        "CREATE TABLE workers ("
        "id TEXT PRIMARY KEY, "
        "mode TEXT NOT NULL, "
        "started_at TEXT NOT NULL, "
        "last_seen_at TEXT NOT NULL)"
    )
