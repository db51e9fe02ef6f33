"""Migration 12: a real fleet (issue 14).

- ``nodes.os_release``, ``nodes.php_version``, ``nodes.mariadb_version``,
  ``nodes.nginx_version``: what the node runs, read by ``node_check`` and
  ``node_provision`` (NULL until a check has read them). Shown per node in the console.
- ``environments.previous_node_id``: after ``env move``, the node that still holds the old
  copy of the environment (kept until the operator removes it with ``env move-cleanup``);
  NULL otherwise. A node cannot be decommissioned while it holds such a copy.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "fleet"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    for column in ("os_release", "php_version", "mariadb_version", "nginx_version"):
        execute(f"ALTER TABLE nodes ADD COLUMN {column} TEXT NULL")
    execute("ALTER TABLE environments ADD COLUMN previous_node_id TEXT NULL "
            "REFERENCES nodes(id)")
