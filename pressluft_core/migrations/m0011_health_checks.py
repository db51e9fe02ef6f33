"""Migration 11: health checks that tell the truth (issue 19).

- ``releases.health_checks``: JSON object, each part of the last health check of the release
  (``page``, ``login``, ``installed``, ``db``, ``php_log``) with its verdict: ``ok`` or
  what was wrong with its evidence (status, body size, the PHP log line). NULL for releases
  checked before this migration.
- ``environments.health_expected_text``: text the operator expects on the front page
  instead of the site's title (NULL: the site's title).
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "health checks"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("ALTER TABLE releases ADD COLUMN health_checks TEXT NULL")
    execute("ALTER TABLE environments ADD COLUMN health_expected_text TEXT NULL")
