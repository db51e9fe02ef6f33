"""The console application: picks the first screen, keeps data live, runs the embedded
worker when no daemon does, and turns worker errors into sentences. Screens do the rest."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from pressluft_core.app import Pressluft
from pressluft_core.errors import AuthError, PressluftError
from pressluft_core.jobs.embedded import EmbeddedWorker
from pressluft_core.session_store import load_token, save_token
from pressluft_tui.actions import ConsoleActions
from pressluft_tui.backup_actions import BackupActions
from pressluft_tui.commands import PROVIDERS
from pressluft_tui.domain_actions import DomainActions
from pressluft_tui.env_actions import EnvironmentActions
from pressluft_tui.fleet_actions import FleetActions
from pressluft_tui.live import LiveUpdates
from pressluft_tui.maintenance_actions import MaintenanceActions
from pressluft_tui.messages import DataChanged, JobFailed, LoggedIn
from pressluft_tui.promote_actions import PromoteActions
from pressluft_tui.resources import stylesheet
from pressluft_tui.screens.first_run import FirstRunScreen
from pressluft_tui.screens.local_node import LocalNodeScreen
from pressluft_tui.screens.login import LoginScreen
from pressluft_tui.screens.sites import SitesScreen


class PressluftApp(ConsoleActions, EnvironmentActions, BackupActions, MaintenanceActions,
                   PromoteActions, DomainActions, FleetActions, App[None]):
    TITLE = "Pressluft"
    CSS_PATH = [stylesheet("app.tcss")]
    COMMANDS = App.COMMANDS | PROVIDERS
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "toggle_help", "Keys", id="app.help"),
    ]

    def __init__(self, core: Pressluft, *, run_worker: bool = True) -> None:
        super().__init__()
        self.core = core
        self.token: str | None = None
        self._run_worker = run_worker
        self._embedded: EmbeddedWorker | None = None
        self.live: LiveUpdates | None = None

    def on_mount(self) -> None:
        self.live = LiveUpdates(self)
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
            self._start_worker()
        else:
            self._start_console()

    def _start_console(self) -> None:
        self._start_worker()
        self.show_home()

    def show_home(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(SitesScreen())

    def _start_worker(self) -> None:
        daemons = self.core.overview.worker_mode().daemon_ids
        if daemons:
            self.sub_title = f"jobs run by the worker daemon {daemons[0]}"
        elif self._run_worker and self._embedded is None:
            self._embedded = EmbeddedWorker(self.core.rt)
            self._embedded.start()
            self.sub_title = "jobs run in this console (they stop when it quits)"
        else:
            self.sub_title = "no worker running: start `pressluft worker`"

    def on_data_changed(self, message: DataChanged) -> None:
        if self.screen_stack:  # nothing to refresh while starting up or shutting down
            self.screen.post_message(DataChanged(message.job_id))

    def on_job_failed(self, message: JobFailed) -> None:
        if self.token:
            self.report_job_failure(message.job_id)

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
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def on_unmount(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
        if self.live is not None:
            self.live.stop()


def run(home: str | None = None) -> int:
    PressluftApp(Pressluft.open(home)).run()
    return 0
