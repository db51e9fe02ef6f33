"""A modal that shows something to read or copy (an SSH key, a full error) and closes on
escape or enter."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class InfoScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="info.close"),
        Binding("enter", "close", "Close", id="info.close-enter", show=False),
    ]

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__()
        self._title = title
        self._lines = list(lines)

    def compose(self) -> ComposeResult:
        with Vertical(id="info-box"):
            yield Static(Text(self._title, style="bold"), id="info-title")
            for line in self._lines:
                yield Static(Text(line), classes="info-line")
            yield Static(Text("escape or enter to close"), classes="confirm-hint")

    def action_close(self) -> None:
        self.dismiss(None)
