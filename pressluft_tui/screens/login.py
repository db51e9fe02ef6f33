"""Login: email and password; a wrong password or a throttled email says so in place."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from pressluft_core.errors import PressluftError
from pressluft_tui.context import context_of
from pressluft_tui.messages import LoggedIn


class LoginScreen(Screen[None]):
    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", id="login.quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        with Center(), Vertical(id="login-box", classes="panel"):
            yield Static(Text("Log in to Pressluft", style="bold"), id="login-title")
            yield Input(placeholder="email", id="login-email")
            yield Input(placeholder="password", password=True, id="login-password")
            yield Static("", id="login-error")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "login-email":
            self.query_one("#login-password", Input).focus()
            return
        email = self.query_one("#login-email", Input).value
        self.log_in(email, event.value)

    @work(thread=True, exclusive=True, group="login", exit_on_error=False)
    def log_in(self, email: str, password: str) -> None:
        app = context_of(self.app)
        try:
            token, _user = app.core.auth.login(email, password)
        except PressluftError as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        self.app.call_from_thread(self.app.post_message, LoggedIn(token))

    def _refused(self, message: str) -> None:
        self.query_one("#login-error", Static).update(Text(message, style="bold red"))
        password = self.query_one("#login-password", Input)
        password.value = ""
        password.focus()
