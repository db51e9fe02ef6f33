"""One site: its environments (production stands out), their node, URL, release, drift."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from pressluft_core.records import SiteRecord
from pressluft_core.services.overview import EnvironmentSummary
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.context import Selection
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.resource_table import ResourceTable

COLUMNS = ("Env", "Type", "Status", "Node", "URL", "Release", "Drift")
SiteData = tuple[SiteRecord, list[EnvironmentSummary]]


class SiteScreen(ResourceScreen[SiteData]):
    BINDINGS = bindings("site")

    def __init__(self, site_id: str) -> None:
        super().__init__()
        self.site_id = site_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="site-summary", classes="summary")
        yield ResourceTable(COLUMNS, "This site has no environments yet.", id="env-table")
        yield Footer()

    def fetch(self) -> SiteData:
        return (self.core.sites.get(self.token, self.site_id),
                self.core.overview.environments(self.token, self.site_id))

    def present(self, data: SiteData) -> None:
        site, envs = data
        self.sub_title = f"site {site.slug}"
        self.query_one("#site-summary", Static).update(Text.assemble(
            Text(site.name, style="bold"), "  ", render.status(site.status),
            Text(f"  ·  {len(envs)} environments  ·  {site.slug}", style="dim")))
        table = self.query_one(ResourceTable)
        table.set_rows([(e.environment.id, self._cells(e)) for e in envs])
        if self.focused is None:
            table.focus_table()

    @staticmethod
    def _cells(summary: EnvironmentSummary) -> list[Text]:
        env = summary.environment
        return [render.plain(env.slug), render.env_badge(env.environment_type),
                render.status(env.status), render.plain(summary.node_name),
                render.plain(env.preview_url), render.plain(summary.release_label or "—"),
                render.status(env.drift_status)]

    def selection(self) -> Selection:
        """This site, and the selected environment (production unless another row is
        chosen): what c clones."""
        return Selection(site_id=self.site_id,
                         environment_id=self.query_one(ResourceTable).selected_key)

    def on_resource_table_chosen(self, event: ResourceTable.Chosen) -> None:
        self.open("env.open", site_id=self.site_id, environment_id=event.key)
