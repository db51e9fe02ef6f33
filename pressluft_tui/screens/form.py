"""A small form in a modal: labelled inputs (and one-line choices) in, a dict of values
out (or None).

Given ``submit``, the form calls it (in a thread: it calls the core) before closing; when
the core refuses the values, the form stays open with them, says why above the fields and
focuses the field the refusal names, so the operator corrects one value instead of
retyping them all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, Static

from pressluft_core.errors import AuthError, PressluftError
from pressluft_tui.widgets.choice import Choice


def advance(screen: Screen[object], current: Widget) -> bool:
    """Enter in a form field moves to the next field; True if it did, False on the last
    field (where enter submits)."""
    fields = list(screen.query("Input, Choice"))
    index = fields.index(current)
    if index + 1 < len(fields):
        fields[index + 1].focus()
        return True
    return False


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str = ""
    password: bool = False
    placeholder: str = ""
    choices: tuple[str, ...] = ()  # a one-line choice instead of a text input


class FormScreen(ModalScreen[dict[str, str] | None]):
    # Focus goes to the first field in on_mount without scrolling: auto focus would
    # centre it in a form taller than the terminal and hide the title and note.
    AUTO_FOCUS = ""
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form.cancel")]

    def __init__(self, title: str, fields: Sequence[Field], note: str | None = None, *,
                 submit: Callable[[dict[str, str]], object] | None = None) -> None:
        super().__init__()
        self._title = title
        self._fields = list(fields)
        self._note = note
        self._submit = submit
        self._submitting = False

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Static(Text(self._title, style="bold"), id="form-title")
            if self._note:
                yield Static(Text(self._note), classes="form-note")
            yield Static("", id="form-error", classes="form-error")
            for field in self._fields:
                if field.choices:
                    with Horizontal(classes="choice-row"):
                        yield Static(Text(field.label), classes="choice-label")
                        yield Choice(field.choices, field.value, id=f"field-{field.name}")
                    continue
                yield Static(Text(field.label), classes="form-label")
                yield Input(value=field.value, password=field.password,
                            placeholder=field.placeholder, id=f"field-{field.name}")
                yield Static("", id=f"error-{field.name}", classes="form-error")
            yield Static(Text(self._hint()), classes="form-hint")

    def on_mount(self) -> None:
        self.query("Input, Choice").first().focus(scroll_visible=False)

    def _hint(self) -> str:
        choices = " · ←/→: change a choice" if any(f.choices for f in self._fields) else ""
        return f"enter: next field / submit{choices} · escape: cancel"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._next_or_submit(event.input)

    def on_choice_submitted(self, event: Choice.Submitted) -> None:
        event.stop()
        self._next_or_submit(event.choice)

    def _next_or_submit(self, field: Widget) -> None:
        if advance(self, field):
            return
        values: dict[str, str] = {}
        for spec in self._fields:
            widget = self.query_one(f"#field-{spec.name}")
            if isinstance(widget, Input | Choice):
                values[spec.name] = widget.value
        if self._submit is None:
            self.dismiss(values)
        elif not self._submitting:  # a second enter must not run the mutation twice
            self._submitting = True
            self._run_submit(values)

    @work(thread=True, exclusive=True, group="form-submit", exit_on_error=False)
    def _run_submit(self, values: dict[str, str]) -> None:
        """An expired session and unexpected errors go on to the app's one handler."""
        assert self._submit is not None
        try:
            self._submit(values)
        except AuthError:
            raise
        except PressluftError as exc:
            self.app.call_from_thread(self._refused, exc)
            return
        self.app.call_from_thread(self.dismiss, values)

    def _refused(self, error: PressluftError) -> None:
        """Under the field the refusal names (focused, so typing corrects it), else above
        the fields; scrolled into view either way, as a small terminal scrolls the form."""
        self._submitting = False
        if not self.is_attached:
            return
        for shown in self.query(".form-error.shown"):
            shown.remove_class("shown")
        named = [spec.name for spec in self._fields if not spec.choices
                 and _field_matches(spec.name, getattr(error, "field", ""))]
        message = self.query_one(f"#error-{named[0]}" if named else "#form-error", Static)
        message.update(Text(f"Refused: {error}", style="bold red"))
        message.add_class("shown")
        if named:
            self.query_one(f"#field-{named[0]}").focus(scroll_visible=False)
        message.scroll_visible(animate=False)


def _field_matches(form_name: str, core_name: str) -> bool:
    """The core names fields as its parameters (``ssh_port``, ``expires_in_hours``); forms
    may use a shorter name (``port``, ``expires``)."""
    return bool(core_name) and (form_name == core_name
                                or core_name.endswith(f"_{form_name}")
                                or core_name.startswith(f"{form_name}_"))
