"""The console application: picks the first screen, keeps data live, runs the embedded
worker when no daemon does, and turns worker errors into sentences. It is the
:class:`~pressluft_tui.context.ConsoleContext` screens and controllers see; what the
operator can do lives in the action table and the controllers."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from pressluft_core.app import Pressluft
from pressluft_core.errors import AuthError, PressluftError
from pressluft_core.session_store import load_token, save_token
from pressluft_tui import actions
from pressluft_tui.commands import PROVIDERS
from pressluft_tui.context import Selection
from pressluft_tui.controllers import Controllers
from pressluft_tui.job_runner import JobRunner
from pressluft_tui.live import LiveUpdates
from pressluft_tui.messages import DataChanged, JobFailed, LoggedIn
from pressluft_tui.resources import stylesheet
from pressluft_tui.screens.first_run import FirstRunScreen
from pressluft_tui.screens.local_node import LocalNodeScreen
from pressluft_tui.screens.login import LoginScreen
from pressluft_tui.screens.sites import SitesScreen


class PressluftApp(App[None]):
    TITLE = "Pressluft"
    CSS_PATH = [stylesheet("app.tcss")]
    COMMANDS = App.COMMANDS | PROVIDERS
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="app.quit"),
                Binding("question_mark", "toggle_help", "Keys", id="app.help")]

    def __init__(self, core: Pressluft, *, run_worker: bool = True) -> None:
        super().__init__()
        self.core = core
        self.token: str | None = None
        self.job_runner = JobRunner(core, embed=run_worker)
        self.live = LiveUpdates(self)
        self.controllers = Controllers(self)

    def on_mount(self) -> None:
        self.live.start(self.set_interval)
        if not self.core.auth.has_admin():
            self.push_screen(FirstRunScreen())
            return
        try:
            self.token = load_token(self.core.rt.paths)
            self.core.auth.require(self.token)
        except AuthError:
            self.token = None
            self.push_screen(LoginScreen())
            return
        self._start_console()

    def on_logged_in(self, message: LoggedIn) -> None:
        first_run = isinstance(self.screen, FirstRunScreen)
        self.token = message.token
        save_token(self.core.rt.paths, message.token)
        if first_run:
            self.switch_screen(LocalNodeScreen(self.core.nodes.public_key(message.token)))
            self.sub_title = self.job_runner.start()
        else:
            self._start_console()

    def _start_console(self) -> None:
        self.sub_title = self.job_runner.start()
        self.show_home()

    def perform(self, action_id: str, selection: Selection) -> None:
        actions.perform(action_id, self.controllers, selection)

    def show_home(self) -> None:
        self.replace_stack(SitesScreen())

    def replace_stack(self, screen: Screen[None]) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(screen)

    def on_data_changed(self, message: DataChanged) -> None:
        if self.screen_stack:  # nothing to refresh while starting up or shutting down
            self.screen.post_message(DataChanged(message.job_id))

    def on_job_failed(self, message: JobFailed) -> None:
        if self.token:
            self.controllers.jobs.report_failure(message.job_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors become something the operator can act on."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, AuthError):
            self.notify(f"{error} — log in again.", severity="error", markup=False)
            self.push_screen(LoginScreen())
        elif isinstance(error, PressluftError):
            self.notify(str(error), title="Refused", severity="error", markup=False)
        else:
            self.log.error(f"worker {event.worker.name} failed: {error!r}")
            self.notify(f"Unexpected error ({type(error).__name__}): {error}. The console "
                        "keeps running; see the job log or report a bug.",
                        severity="error", markup=False)

    def action_toggle_help(self) -> None:
        shown = bool(self.screen.query("HelpPanel"))
        (self.action_hide_help_panel if shown else self.action_show_help_panel)()

    def on_unmount(self) -> None:
        self.job_runner.stop()
        self.live.stop()


def run(home: str | None = None) -> int:
    PressluftApp(Pressluft.open(home)).run()
    return 0
