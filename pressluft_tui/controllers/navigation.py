"""Going places: the screens, the SSH key to install, logging out. The screens are
pushed here (not by each other), so no screen imports another to open it."""

from __future__ import annotations

from pressluft_core.session_store import clear_token
from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller
from pressluft_tui.screens.audit import AuditScreen
from pressluft_tui.screens.certificates import CertificatesScreen
from pressluft_tui.screens.environment import EnvironmentScreen
from pressluft_tui.screens.info import InfoScreen
from pressluft_tui.screens.jobs import JobsScreen
from pressluft_tui.screens.login import LoginScreen
from pressluft_tui.screens.node import NodeScreen
from pressluft_tui.screens.nodes import NodesScreen
from pressluft_tui.screens.settings import SettingsScreen
from pressluft_tui.screens.site import SiteScreen


class Navigation(Controller):
    def show_home(self) -> None:
        self.ctx.show_home()

    def open_site(self, site_id: str) -> None:
        self.ctx.push_screen(SiteScreen(site_id))

    def open_environment(self, site_id: str, environment_id: str, tab: str = "") -> None:
        self.ctx.push_screen(EnvironmentScreen(site_id, environment_id, tab=tab))

    def open_jobs(self, site_id: str | None = None, job_id: str | None = None) -> None:
        self.ctx.push_screen(JobsScreen(site_id, job_id))

    def open_node(self, node_id: str) -> None:
        self.ctx.push_screen(NodeScreen(node_id))

    def open_nodes(self) -> None:
        self.ctx.push_screen(NodesScreen())

    def open_settings(self) -> None:
        self.ctx.push_screen(SettingsScreen())

    def open_certificates(self) -> None:
        self.ctx.push_screen(CertificatesScreen())

    def open_audit(self) -> None:
        self.ctx.push_screen(AuditScreen())

    def show_releases(self, site_id: str, env_id: str) -> None:
        """The Releases tab: switched to on the environment's screen, else opened."""
        screen = self.ctx.screen
        if isinstance(screen, EnvironmentScreen) and screen.environment_id == env_id:
            screen.show_tab("tab-releases")
        else:
            self.open_environment(site_id, env_id, tab="tab-releases")

    @in_worker("action")
    def show_key(self) -> None:
        key = self.core.nodes.public_key(self.token)
        self.ctx.call_from_thread(self.ctx.push_screen, InfoScreen(
            "The control plane's SSH public key",
            ["Install it in ~/.ssh/authorized_keys of each node's SSH user:", key]))

    @in_worker("action")
    def log_out(self) -> None:
        """Revoke this console's session and forget the saved one, so the next start
        asks again (e.g. before leaving a shared terminal); jobs keep running."""
        self.core.auth.logout(self.token)
        clear_token(self.core.rt.paths)
        self.ctx.call_from_thread(self._show_login)

    def _show_login(self) -> None:
        self.ctx.token = None
        self.ctx.replace_stack(LoginScreen())
        self.ctx.notify("Logged out; queued and running jobs go on.", markup=False)
