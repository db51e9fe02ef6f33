"""Migration 10: each node's wildcard preview certificate (issue 8).

- ``nodes.preview_cert_name``: ``wildcard.<preview domain>``, the certificate the node serves
  https preview URLs with (``/etc/letsencrypt/live/<name>/``); NULL while it has none.
- ``nodes.preview_cert_expires_at``: its ``notAfter`` as read on the node (after issuing and
  by the daily ``cert_expiry`` job): the console flags it within 20 days, like a domain's.
- ``nodes.preview_cert_checked_at``: when that date was last read.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "preview certificates"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("ALTER TABLE nodes ADD COLUMN preview_cert_name TEXT NULL")
    execute("ALTER TABLE nodes ADD COLUMN preview_cert_expires_at TEXT NULL")
    execute("ALTER TABLE nodes ADD COLUMN preview_cert_checked_at TEXT NULL")
