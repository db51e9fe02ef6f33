"""The Backups tab's table: one row per backup, newest first, and the keys that act on the
selected backup. They are bound here, on the table, so they hold only while it has the
focus: ``r`` restores here and refreshes everywhere else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pressluft_core.records import BackupRecord
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.widgets.resource_table import ResourceTable

COLUMNS = ("Backup", "Created", "Scope", "Status", "Size", "Last verified", "Keep until",
           "SHA-256")
EMPTY = ("No backups yet: b takes one (storage is configured in Settings, where t tests "
         "it).")


class BackupsTable(ResourceTable):
    BINDINGS = bindings("backups-table")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, EMPTY, id=id)

    def show(self, backups: Sequence[BackupRecord], now: datetime) -> None:
        self.set_rows([(b.id, [
            render.short_id(b.id), render.stamp(b.created_at), render.plain(b.backup_scope),
            render.status(b.status), render.size(b.size_bytes),
            render.verdict(b.verify_result, b.verified_at, now), render.day(b.retention_until),
            render.short_id(b.checksum)]) for b in backups])
