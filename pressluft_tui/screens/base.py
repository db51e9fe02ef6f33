"""What every resource screen shares: loading in a thread worker, reloading when data
changes, going back with escape, and running the action table's keys on what the screen
shows (its :meth:`~ResourceScreen.selection`)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from textual import work
from textual.binding import Binding
from textual.screen import Screen

from pressluft_core.errors import PressluftError
from pressluft_tui.actions import BY_BINDING
from pressluft_tui.context import ConsoleContext, Selection, WithContext, context_of
from pressluft_tui.messages import DataChanged

T = TypeVar("T")


class ResourceScreen(WithContext, Screen[None], Generic[T]):
    AUTO_FOCUS = "DataTable"
    BINDINGS = [
        Binding("escape", "back", "Back", id="screen.back"),
        Binding("r", "reload", "Refresh", id="screen.reload", show=False),
    ]

    @property
    def ctx(self) -> ConsoleContext:
        return context_of(self.app)

    def selection(self) -> Selection:
        """What a key of the action table acts on here: the screen's subject and its
        selected row."""
        return Selection()

    def action_run(self, binding_id: str) -> None:
        """Every key from :func:`pressluft_tui.actions.bindings` lands here."""
        self.ctx.perform(BY_BINDING[binding_id].id, self.selection())

    def open(self, action_id: str, **selected: Any) -> None:
        """Enter on a row: the table's action on that row (open a site, a node …)."""
        self.ctx.perform(action_id, Selection(**selected))

    def fetch(self) -> T:
        """Read what the screen shows (runs in a thread: core calls only, no widgets)."""
        raise NotImplementedError

    def present(self, data: T) -> None:
        """Show ``data`` (runs on the UI thread)."""
        raise NotImplementedError

    _shown_once = False

    def on_mount(self) -> None:
        """The first paint already shows the data: one indexed read, done here rather than
        in a thread that would compete with the app's own start-up for the GIL (see
        bench/tui.py). Every later refresh runs in a worker."""
        try:
            self.present(self.fetch())
        except PressluftError:
            self.reload()  # let the worker path report it through the app's handler

    def on_screen_resume(self) -> None:
        if self._shown_once:  # coming back from another screen: catch up
            self.reload()
        self._shown_once = True

    def on_data_changed(self, _message: DataChanged) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="screen-load", exit_on_error=False)
    def reload(self) -> None:
        data = self.fetch()
        self.app.call_from_thread(self._present_if_mounted, data)

    def _present_if_mounted(self, data: Any) -> None:
        if self.is_attached:
            self.present(data)

    def action_reload(self) -> None:
        self.reload()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
