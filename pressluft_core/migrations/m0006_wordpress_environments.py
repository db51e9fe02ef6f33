"""Migration 6: what WordPress environments need beyond the seed (issue 5).

- ``nodes.sites_root``: where the node keeps environments (DESIGN.md §6: "root
  configurable per node"); set by ``node provision --sites-root``, read by every site job.
- ``environments.expires_at``: optional expiry of a temporary clone; a periodic job
  deletes the environment once it has passed.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "wordpress environments"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("ALTER TABLE nodes ADD COLUMN sites_root TEXT NOT NULL DEFAULT '/var/www/sites'")
    execute("ALTER TABLE environments ADD COLUMN expires_at TEXT NULL")
