"""First run, step 2 of 2: register this host as the local node, or skip for now."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from pressluft_core.errors import PressluftError
from pressluft_tui.context import ConsoleContext, context_of
from pressluft_tui.screens.form import advance

NODE_FIELDS = (("name", "Node name", "local"), ("hostname", "SSH host", "localhost"),
               ("port", "SSH port", "22"), ("user", "SSH user", "root"),
               ("public_ip", "Public IPv4 (for preview URLs)", ""))


class LocalNodeScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+s", "skip", "Skip for now", id="local-node.skip"),
        Binding("ctrl+q", "app.quit", "Quit", id="local-node.quit"),
    ]

    def __init__(self, public_key: str) -> None:
        super().__init__()
        self._public_key = public_key

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="local-node-box", classes="panel"):
            yield Static(Text("Step 2 of 2: register this host as the local node",
                              style="bold"))
            yield Static(Text("Install this key in the SSH user's ~/.ssh/authorized_keys "
                              "(Pressluft reaches every node over SSH, this one too):"),
                         classes="form-note")
            yield Static(Text(self._public_key), id="public-key")
            for name, label, default in NODE_FIELDS:
                yield Static(Text(label), classes="form-label")
                yield Input(value=default, id=f"node-{name}")
            yield Static(Text("enter on the last field registers and checks the node · "
                              "ctrl+s skips"), classes="form-hint")
            yield Static("", id="local-node-error")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if advance(self, event.input):
            return
        values = {name: self.query_one(f"#node-{name}", Input).value
                  for name, _label, _default in NODE_FIELDS}
        self.register(values)

    @work(thread=True, exclusive=True, group="local-node", exit_on_error=False)
    def register(self, values: dict[str, str]) -> None:
        app = self.ctx
        try:
            node = app.core.nodes.register(
                app.token or "", values["name"], values["hostname"],
                ssh_port=values["port"], ssh_user=values["user"],  # type: ignore[arg-type]
                public_ip=values["public_ip"] or None, is_local=True)
            app.core.nodes.check(app.token or "", node.id)
        except PressluftError as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        self.app.call_from_thread(self._done, f"node {node.name} registered; checking it "
                                               "now (see Jobs)")

    @property
    def ctx(self) -> ConsoleContext:
        return context_of(self.app)

    def _refused(self, message: str) -> None:
        self.query_one("#local-node-error", Static).update(Text(message, style="bold red"))

    def _done(self, message: str) -> None:
        self.notify(message, markup=False)
        self.ctx.show_home()

    def action_skip(self) -> None:
        self.ctx.show_home()
