"""One node: its details, the environments it hosts, and a connectivity check."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from pressluft_core.records import EnvironmentRecord, NodeRecord
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.context import Selection
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.domains_table import expiry_cell
from pressluft_tui.widgets.resource_table import ResourceTable

NodeData = tuple[NodeRecord, list[tuple[str, EnvironmentRecord]]]


class NodeScreen(ResourceScreen[NodeData]):
    BINDINGS = bindings("node")

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="node-details", classes="summary")
        yield ResourceTable(("Site", "Env", "Type", "Status", "URL"),
                            "No environments on this node yet.", id="node-envs")
        yield Footer()

    def fetch(self) -> NodeData:
        return (self.core.nodes.get(self.token, self.node_id),
                self.core.overview.node_environments(self.token, self.node_id))

    def present(self, data: NodeData) -> None:
        node, envs = data
        now = self.core.rt.clock.now()
        self.sub_title = f"node {node.name}"
        self.query_one("#node-details", Static).update(Text.assemble(
            Text(node.name, style="bold"), "  ", render.status(node.status),
            Text(f"  ·  {node.ssh_user}@{node.hostname}:{node.ssh_port}  ·  public IP "
                 f"{node.public_ip or '—'}  ·  last seen ", style="dim"),
            render.ago(node.last_seen_at, now), "\n", Text(render.stack_line(node),
                                                            style="dim"),
            *self._preview_cert(node, now)))
        self.query_one(ResourceTable).set_rows([
            (env.id, [render.plain(slug), render.plain(env.slug),
                      render.env_badge(env.environment_type),
                      render.status(env.status) if env.node_id == node.id else
                      Text("old copy (moved away)", style="yellow"),
                      render.plain(env.preview_url)]) for slug, env in envs])

    @staticmethod
    def _preview_cert(node: NodeRecord, now: datetime) -> tuple[Text | str, ...]:
        """The wildcard certificate https preview URLs are served with, flagged like a
        domain's when renewal has not refreshed it within 20 days of its expiry."""
        if node.preview_cert_name is None:
            return ()
        return ("\n", Text(f"preview certificate {node.preview_cert_name}, expires ",
                           style="dim"), expiry_cell(node.preview_cert_expires_at, True, now))

    def selection(self) -> Selection:
        return Selection(node_id=self.node_id)
