"""Home: every site with its status, production URL, environments and last job."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header

from pressluft_core.services.overview import SiteSummary
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.context import Selection
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.resource_table import ResourceTable

COLUMNS = ("Site", "Name", "Status", "Production URL", "Envs", "Nodes", "Last job")


class SitesScreen(ResourceScreen[list[SiteSummary]]):
    BINDINGS = bindings("sites")

    def compose(self) -> ComposeResult:
        yield Header()
        yield ResourceTable(COLUMNS, "No sites yet: press n to create one "
                                     "(or ctrl+p → site: create…).", id="sites-table")
        yield Footer()

    def fetch(self) -> list[SiteSummary]:
        return self.core.overview.sites(self.token)

    def present(self, data: list[SiteSummary]) -> None:
        table = self.query_one(ResourceTable)
        table.set_rows([(s.site.id, partial(self._cells, s)) for s in data])
        self.sub_title = f"{len(data)} sites"
        if self.focused is None:
            table.focus_table()

    @staticmethod
    def _cells(summary: SiteSummary) -> list[Text]:
        job = summary.last_job
        last = (Text.assemble(Text(job.job_type), " ", render.status(job.status))
                if job else Text("—", style="dim"))
        return [render.plain(summary.site.slug), render.plain(summary.site.name),
                render.status(summary.site.status), render.plain(summary.production_url),
                render.plain(summary.environment_count), render.plain(summary.node_names),
                last]

    def selection(self) -> Selection:
        return Selection(site_id=self.query_one(ResourceTable).selected_key)

    def on_resource_table_chosen(self, event: ResourceTable.Chosen) -> None:
        self.open("site.open", site_id=event.key)
