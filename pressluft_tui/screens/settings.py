"""Settings: every known setting; secrets are masked and write-only."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header

from pressluft_core.services.settings import SettingValue
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.context import Selection
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.resource_table import ResourceTable


class SettingsScreen(ResourceScreen[list[SettingValue]]):
    BINDINGS = bindings("settings")

    def compose(self) -> ComposeResult:
        yield Header()
        yield ResourceTable(("Setting", "Value", "", "What it is"), "No settings.",
                            id="settings-table")
        yield Footer()

    def fetch(self) -> list[SettingValue]:
        return self.core.settings.list(self.token)

    def present(self, data: list[SettingValue]) -> None:
        self.sub_title = "settings"
        table = self.query_one(ResourceTable)
        table.set_rows([(v.key, [
            render.plain(v.key),
            Text(v.value or "", style="") if v.is_set else Text("(unset)", style="dim"),
            Text("default" if v.is_default and v.is_set else
                 ("secret" if v.secret else ""), style="dim"),
            render.plain(v.description)]) for v in data])
        if self.focused is None:
            table.focus_table()

    def selection(self) -> Selection:
        return Selection(setting=self.query_one(ResourceTable).selected_key)

    def on_resource_table_chosen(self, event: ResourceTable.Chosen) -> None:
        self.open("setting.edit", setting=event.key)
