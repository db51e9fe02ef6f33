"""Choosing one of a list in a modal (which backup to restore, from the palette): up/down,
enter chooses, escape cancels. Returns the chosen key or None."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class PickScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="pick.cancel")]

    def __init__(self, title: str, options: Sequence[tuple[str, Text]], note: str = "") -> None:
        super().__init__()
        self._title = title
        self._options = list(options)
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="pick-box"):
            yield Static(Text(self._title, style="bold"), id="pick-title")
            if self._note:
                yield Static(Text(self._note), classes="form-note")
            yield OptionList(*(Option(label, id=key) for key, label in self._options),
                             id="pick-list")
            yield Static(Text("up/down: choose · enter: go on · escape: cancel"),
                         classes="confirm-hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
