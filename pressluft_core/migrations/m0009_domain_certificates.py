"""Migration 9: custom domains' certificates (issue 8).

- ``domains.expires_at``: the certificate's ``notAfter`` as read on the node (after issuing
  and by the daily ``cert_expiry`` job); the console flags certificates that renewal has not
  refreshed within 20 days of it.
- ``domains.tls_checked_at``: when that date was last read from the node.
- ``domains.tls_error``: why the last domain job could not give the domain a certificate
  (the DNS check or the ACME server's answer), shown next to ``tls_status = failed``.
- ``domains.state_version``: domain rows change after they are written (``tls_status``,
  the dates above), so they carry a version like every other mutable row.
"""

from __future__ import annotations

from collections.abc import Callable

NAME = "domain certificates"


def apply(execute: Callable[[str], None], dialect: str) -> None:
    execute("ALTER TABLE domains ADD COLUMN expires_at TEXT NULL")
    execute("ALTER TABLE domains ADD COLUMN tls_checked_at TEXT NULL")
    execute("ALTER TABLE domains ADD COLUMN tls_error TEXT NULL")
    execute("ALTER TABLE domains ADD COLUMN state_version INTEGER NOT NULL DEFAULT 1")
