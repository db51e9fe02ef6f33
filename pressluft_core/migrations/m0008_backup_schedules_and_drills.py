"""Migration 8: scheduled backups and restore drills (issue 6).

- ``environments.backup_schedule``: ``daily`` or ``off``; NULL means the default (production
  daily, other environments off). The hour is the ``backup_hour`` setting.
- ``backups.verified_at`` / ``backups.verify_result``: when a restore drill last restored
  this backup into a throwaway environment, and what it found (``healthy`` or why not);
  the console shows, per environment, when its latest backup was last proven restorable.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "backup schedules and drills"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("ALTER TABLE environments ADD COLUMN backup_schedule TEXT NULL")
    execute("ALTER TABLE backups ADD COLUMN verified_at TEXT NULL")
    execute("ALTER TABLE backups ADD COLUMN verify_result TEXT NULL")
