"""Home: the sites of this installation (the full console comes with its own issue)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from pressluft_core.app import Pressluft
from pressluft_core.errors import PressluftError
from pressluft_core.session_store import load_token


class HomeScreen(Screen[None]):
    def __init__(self, core: Pressluft) -> None:
        super().__init__()
        self.core = core

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield DataTable(id="sites", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        status = self.query_one("#status", Static)
        table = self.query_one("#sites", DataTable)
        table.add_columns("Slug", "Name", "Status")
        if not self.core.auth.has_admin():
            status.update("No admin yet: run `pressluft admin create`, then `pressluft login`.")
            return
        try:
            token = load_token(self.core.rt.paths)
            sites = self.core.sites.list(token)
        except PressluftError as exc:
            status.update(f"{exc}")
            return
        status.update(f"{len(sites)} sites")
        for site in sites:
            table.add_row(site.slug, site.name, site.status, key=site.id)
