"""Nodes: every host Pressluft manages, its reachability and what it hosts."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header

from pressluft_core.services.overview import NodeSummary
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.context import Selection
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.resource_table import ResourceTable

COLUMNS = ("Node", "Host", "SSH", "Public IP", "Status", "OS", "Last seen", "Envs")


class NodesScreen(ResourceScreen[list[NodeSummary]]):
    BINDINGS = bindings("nodes")

    def compose(self) -> ComposeResult:
        yield Header()
        yield ResourceTable(COLUMNS, "No nodes yet: press n to add one (or `pressluft node "
                                     "add`).", id="nodes-table")
        yield Footer()

    def fetch(self) -> list[NodeSummary]:
        return self.core.overview.nodes(self.token)

    def present(self, data: list[NodeSummary]) -> None:
        now = self.core.rt.clock.now()
        self.sub_title = f"{len(data)} nodes"
        table = self.query_one(ResourceTable)
        table.set_rows([(n.node.id, self._cells(n, now)) for n in data])
        if self.focused is None:
            table.focus_table()

    @staticmethod
    def _cells(summary: NodeSummary, now: datetime) -> list[Text]:
        node = summary.node
        name = Text(node.name) + (Text(" (this host)", style="dim") if node.is_local else "")
        return [name, render.plain(node.hostname),
                render.plain(f"{node.ssh_user}@:{node.ssh_port}"),
                render.plain(node.public_ip or "—"), render.status(node.status),
                render.plain(render.short_os(node.os_release)),
                render.ago(node.last_seen_at, now), render.plain(summary.environment_count)]

    def selection(self) -> Selection:
        return Selection(node_id=self.query_one(ResourceTable).selected_key)

    def on_resource_table_chosen(self, event: ResourceTable.Chosen) -> None:
        self.open("node.open", node_id=event.key)
