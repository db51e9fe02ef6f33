"""First run on an empty database: create the admin, then register this host as the
local node (its SSH key shown, a connectivity check offered — or skipped)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from pressluft_core.errors import PressluftError
from pressluft_tui.context import context_of
from pressluft_tui.messages import LoggedIn
from pressluft_tui.screens.form import advance

ADMIN_FIELDS = (("email", "Admin email", False), ("name", "Your name", False),
                ("password", "Password (10+ characters)", True),
                ("repeat", "Repeat the password", True))


class FirstRunScreen(Screen[None]):
    """Step 1 of 2: the admin account."""

    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", id="first-run.quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="first-run-box", classes="panel"):
            yield Static(Text("Welcome to Pressluft — step 1 of 2: create the admin",
                              style="bold"))
            yield Static(Text("This account runs everything here; its password is stored "
                              "as an argon2id hash."), classes="form-note")
            for name, label, secret in ADMIN_FIELDS:
                yield Static(Text(label), classes="form-label")
                yield Input(password=secret, id=f"admin-{name}")
            yield Static("", id="first-run-error")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if advance(self, event.input):
            return
        values = {name: self.query_one(f"#admin-{name}", Input).value
                  for name, _label, _secret in ADMIN_FIELDS}
        if values["password"] != values["repeat"]:
            self._refused("password: the two passwords differ")
            return
        self.create_admin(values["email"], values["name"], values["password"])

    @work(thread=True, exclusive=True, group="first-run", exit_on_error=False)
    def create_admin(self, email: str, name: str, password: str) -> None:
        app = context_of(self.app)
        try:
            app.core.auth.create_admin(email, name, password)
            token, _user = app.core.auth.login(email, password)
        except PressluftError as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        self.app.call_from_thread(self._created, token)

    def _created(self, token: str) -> None:
        self.app.post_message(LoggedIn(token))

    def _refused(self, message: str) -> None:
        self.query_one("#first-run-error", Static).update(Text(message, style="bold red"))
