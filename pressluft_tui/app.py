"""The console application. Kept small: screens do the work, styles live in ``styles/``."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from pressluft_core.app import Pressluft
from pressluft_tui.resources import stylesheet
from pressluft_tui.screens.home import HomeScreen


class PressluftApp(App[None]):
    TITLE = "Pressluft"
    CSS_PATH = [stylesheet("app.tcss")]
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="app.quit")]

    def __init__(self, core: Pressluft) -> None:
        super().__init__()
        self.core = core

    def on_mount(self) -> None:
        self.push_screen(HomeScreen(self.core))


def run(home: str | None = None) -> int:
    PressluftApp(Pressluft.open(home)).run()
    return 0
