"""A one-line choice among a few words (staging / clone, yes / no) for forms: every option
stays visible, left/right or space change it, and enter moves on as in a text field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class Choice(Widget, can_focus=True):
    BINDINGS = [
        Binding("left", "step(-1)", "Previous option", id="choice.previous", show=False),
        Binding("right,space", "step(1)", "Next option", id="choice.next", show=False),
        Binding("enter", "submit", "Next field", id="choice.submit", show=False),
    ]
    COMPONENT_CLASSES = {"choice--selected"}

    value: reactive[str] = reactive("")

    @dataclass
    class Submitted(Message):
        """Enter on the choice (a form moves to its next field)."""

        choice: Choice

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(self, options: Sequence[str], value: str = "", *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.options = tuple(options)
        self.set_reactive(Choice.value, value if value in self.options else self.options[0])

    def render(self) -> Text:
        selected = self.get_component_rich_style("choice--selected", partial=True)
        return Text(" ").join(
            Text(f" ● {option} ", style=selected) if option == self.value
            else Text(f" ○ {option} ") for option in self.options)

    def action_step(self, delta: int) -> None:
        index = self.options.index(self.value)
        self.value = self.options[(index + delta) % len(self.options)]

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self))

    def on_click(self, _event: Click) -> None:
        self.action_step(1)
