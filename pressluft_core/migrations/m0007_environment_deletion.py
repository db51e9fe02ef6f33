"""Migration 7: ``environments.deleted_at``.

An environment that is deleted (by the operator or when a temporary clone expires) is
removed from its node, but its row stays: jobs, releases, drift checks and, above all, the
backup taken just before the deletion refer to it, and that backup must stay restorable
into the site's other environments. The row is hidden from every list, and its slug is
freed (renamed to ``deleted-<id>``) so the name can be used again.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "environment deletion"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("ALTER TABLE environments ADD COLUMN deleted_at TEXT NULL")
