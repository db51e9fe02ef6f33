"""A small form in a modal: labelled inputs in, a dict of values out (or None)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static


def advance(screen: Screen[object], current: Input) -> bool:
    """Enter in a form field moves to the next field; True if it did, False on the last
    field (where enter submits)."""
    inputs = list(screen.query(Input))
    index = inputs.index(current)
    if index + 1 < len(inputs):
        inputs[index + 1].focus()
        return True
    return False


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str = ""
    password: bool = False
    placeholder: str = ""


class FormScreen(ModalScreen[dict[str, str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form.cancel")]

    def __init__(self, title: str, fields: Sequence[Field], note: str | None = None) -> None:
        super().__init__()
        self._title = title
        self._fields = list(fields)
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Static(Text(self._title, style="bold"), id="form-title")
            if self._note:
                yield Static(Text(self._note), classes="form-note")
            for field in self._fields:
                yield Static(Text(field.label), classes="form-label")
                yield Input(value=field.value, password=field.password,
                            placeholder=field.placeholder, id=f"field-{field.name}")
            yield Static(Text("enter: next field / submit · escape: cancel"),
                         classes="form-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if advance(self, event.input):
            return
        self.dismiss({f.name: self.query_one(f"#field-{f.name}", Input).value
                      for f in self._fields})

    def action_cancel(self) -> None:
        self.dismiss(None)
