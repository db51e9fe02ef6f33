"""The one confirmation dialog: says exactly what will happen, then needs ``y`` — or, for
the dangerous actions, a typed word (the site slug)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        Binding("n", "cancel", "No", id="confirm.no", show=False),
        Binding("y", "confirm", "Yes", id="confirm.yes"),
    ]

    def __init__(self, title: str, lines: Sequence[str], *, require_word: str | None = None,
                 danger: bool = False) -> None:
        super().__init__(classes="danger" if danger else None)
        self._title = title
        self._lines = list(lines)
        self._word = require_word

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text(self._title, style="bold"), id="confirm-title")
            for line in self._lines:
                yield Static(Text(f"• {line}"), classes="confirm-line")
            if self._word:
                yield Static(Text(f"Type {self._word} and press enter to go ahead; "
                                  "escape cancels."), classes="confirm-hint")
                yield Input(placeholder=self._word, id="confirm-word")
            else:
                yield Static(Text("y to go ahead · n or escape to cancel"),
                             classes="confirm-hint")

    def on_mount(self) -> None:
        if self._word:
            self.query_one(Input).focus()

    def action_confirm(self) -> None:
        if self._word is None:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self._word:
            self.dismiss(True)
        else:
            self.notify(f"That is not {self._word}; nothing was done.", severity="warning",
                        markup=False)
            event.input.value = ""
