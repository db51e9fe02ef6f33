"""Migration 2: failed-login bookkeeping, per email, so the delay grows across processes."""

from __future__ import annotations

from collections.abc import Callable

NAME = "login throttle"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute(
        "CREATE TABLE login_throttle ("
        "email TEXT PRIMARY KEY, "
        "failed_count INTEGER NOT NULL DEFAULT 0, "
        "last_failed_at TEXT NOT NULL)"
    )
