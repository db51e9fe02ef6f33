"""Audit log: every mutation, refusals included, newest first."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header

from pressluft_core.records import AuditRecord
from pressluft_tui import render
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.resource_table import ResourceTable


class AuditScreen(ResourceScreen[list[AuditRecord]]):
    def compose(self) -> ComposeResult:
        yield Header()
        yield ResourceTable(("When", "Action", "Resource", "Id", "Result"),
                            "Nothing audited yet.", id="audit-table")
        yield Footer()

    def fetch(self) -> list[AuditRecord]:
        return self.core.audit.list(self.token, limit=500)

    def present(self, data: list[AuditRecord]) -> None:
        self.sub_title = f"audit log · {len(data)} latest"
        table = self.query_one(ResourceTable)
        table.set_rows([(a.id, [render.plain(a.created_at), render.plain(a.action),
                                render.plain(a.resource_type), render.short_id(a.resource_id),
                                render.status(a.result) if a.result == "ok"
                                else render.plain(a.result)]) for a in data])
        if self.focused is None:
            table.focus_table()
