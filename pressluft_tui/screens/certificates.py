"""Certificates: every TLS certificate on every node in one list, soonest expiry first, so
a renewal that has stopped working shows before visitors see a browser warning."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header

from pressluft_core.services.domains import EXPIRY_WARNING_DAYS
from pressluft_core.services.overview import CertificateSummary
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.context import Selection
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.domains_table import expiry_cell
from pressluft_tui.widgets.resource_table import ResourceTable

COLUMNS = ("Certificate", "For", "Node", "TLS", "Expires", "Checked", "Problem")
EMPTY = ("No certificates yet: a custom domain gets one when it is added (a on an "
         "environment's Domains tab); https preview URLs need preview_domain.")


def row_key(cert: CertificateSummary) -> str:
    return f"{cert.kind}:{cert.node_id}:{cert.name}"


class CertificatesScreen(ResourceScreen[list[CertificateSummary]]):
    BINDINGS = bindings("certificates")

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, CertificateSummary] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield ResourceTable(COLUMNS, EMPTY, id="certificates-table")
        yield Footer()

    def fetch(self) -> list[CertificateSummary]:
        return self.core.overview.certificates(self.token)

    def present(self, data: list[CertificateSummary]) -> None:
        now = self.core.rt.clock.now()
        self._shown = {row_key(c): c for c in data}
        flagged = sum(1 for c in data if c.flagged)
        self.sub_title = (f"{len(data)} certificates · {flagged} expire within "
                          f"{EXPIRY_WARNING_DAYS} days or unknown")
        table = self.query_one(ResourceTable)
        table.set_rows([(row_key(c), self._cells(c, now)) for c in data])
        if self.focused is None:
            table.focus_table()

    @staticmethod
    def _cells(cert: CertificateSummary, now: datetime) -> list[Text]:
        holder = render.plain(cert.holder)
        if cert.kind == "preview":
            holder.stylize("italic")
        return [render.plain(cert.name), holder, render.plain(cert.node_name),
                render.status(cert.tls_status),
                expiry_cell(cert.expires_at, cert.tls_status == "active", now),
                render.stamp(cert.checked_at), render.plain(cert.error or "")]

    def _selected(self) -> CertificateSummary | None:
        key = self.query_one(ResourceTable).selected_key
        return self._shown.get(key) if key else None

    def on_resource_table_chosen(self, event: ResourceTable.Chosen) -> None:
        """Enter: a domain's environment (its Domains tab acts on it), or a wildcard's node."""
        cert = self._shown.get(event.key)
        if cert is None:
            return
        if cert.site_id and cert.environment_id:
            self.open("env.open", site_id=cert.site_id, environment_id=cert.environment_id)
        else:
            self.open("node.open", node_id=cert.node_id)

    def selection(self) -> Selection:
        """The selected row's node: where w gets the wildcard certificate."""
        cert = self._selected()
        return Selection(node_id=cert.node_id if cert else None)
