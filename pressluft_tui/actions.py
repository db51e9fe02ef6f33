"""What the operator can do, as app actions: navigation and the mutations that go through
core services. Bindings, the command palette and screens all call these, so each action
exists once. Mutations run in named thread workers; their errors reach the one handler
in :mod:`pressluft_tui.app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from pressluft_core.records import JobRecord
from pressluft_core.session_store import clear_token
from pressluft_tui.screens.confirm import ConfirmScreen
from pressluft_tui.screens.form import Field, FormScreen
from pressluft_tui.screens.info import InfoScreen

if TYPE_CHECKING:
    from textual.app import App

    from pressluft_core.app import Pressluft

    _AppBase = App[None]
else:
    _AppBase = object


class ConsoleActions(_AppBase):
    """Mixed into :class:`PressluftApp`; needs ``core`` and ``token``."""

    core: Pressluft
    token: str | None

    def tell(self, message: str) -> None:
        """Notify from a worker thread; text from the database is never markup."""
        self.call_from_thread(self.notify, message, markup=False)

    # -- navigation ---------------------------------------------------------------------

    def open_site(self, site_id: str) -> None:
        from pressluft_tui.screens.site import SiteScreen

        self.push_screen(SiteScreen(site_id))

    def open_environment(self, site_id: str, environment_id: str) -> None:
        from pressluft_tui.screens.environment import EnvironmentScreen

        self.push_screen(EnvironmentScreen(site_id, environment_id))

    def open_jobs(self, site_id: str | None = None, job_id: str | None = None) -> None:
        from pressluft_tui.screens.jobs import JobsScreen

        self.push_screen(JobsScreen(site_id, job_id))

    def open_node(self, node_id: str) -> None:
        from pressluft_tui.screens.node import NodeScreen

        self.push_screen(NodeScreen(node_id))

    def action_open_jobs(self) -> None:
        self.open_jobs()

    def action_open_nodes(self) -> None:
        from pressluft_tui.screens.nodes import NodesScreen

        self.push_screen(NodesScreen())

    def action_open_settings(self) -> None:
        from pressluft_tui.screens.settings import SettingsScreen

        self.push_screen(SettingsScreen())

    def action_open_certificates(self) -> None:
        from pressluft_tui.screens.certificates import CertificatesScreen

        self.push_screen(CertificatesScreen())

    def action_open_audit(self) -> None:
        from pressluft_tui.screens.audit import AuditScreen

        self.push_screen(AuditScreen())

    def action_show_key(self) -> None:
        self._show_key()

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _show_key(self) -> None:
        key = self.core.nodes.public_key(self.token or "")
        self.call_from_thread(self.push_screen, InfoScreen(
            "The control plane's SSH public key",
            ["Install it in ~/.ssh/authorized_keys of each node's SSH user:", key]))

    def log_out(self) -> None:
        self._log_out()

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _log_out(self) -> None:
        """Revoke this console's session and forget the saved one, so the next start
        asks again (e.g. before leaving a shared terminal); jobs keep running."""
        self.core.auth.logout(self.token or "")
        clear_token(self.core.rt.paths)
        self.call_from_thread(self._show_login)

    def _show_login(self) -> None:
        from pressluft_tui.screens.login import LoginScreen

        self.token = None
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(LoginScreen())
        self.notify("Logged out; queued and running jobs go on.", markup=False)

    @work(thread=True, group="job-failures", exit_on_error=False)
    def report_job_failure(self, job_id: str) -> None:
        """Say what failed, where, and where the log is — as soon as it happens."""
        job = self.core.jobs.get(self.token or "", job_id)
        sentence = (job.error_message or "no details").split("\n--- last output ---")[0]
        self.call_from_thread(self.notify, f"{job.job_type} {job.id[:8]} failed "
                              f"({job.error_code}): {sentence}\nThe log: Jobs (j), then l.",
                              title="Job failed", severity="error", timeout=15, markup=False)

    # -- mutations ----------------------------------------------------------------------

    def new_site(self) -> None:
        fields = [Field("name", "Site name"), Field("slug", "Slug (a-z, 0-9, -)"),
                  Field("node", "Node (empty: this host)"),
                  Field("preset", "Promotion preset", "content-protect")]

        self.push_screen(FormScreen("New site", fields,
                                    "Creates the site and its production environment, "
                                    "then installs WordPress on the node as a job.",
                                    submit=self._create_site))

    def _create_site(self, values: dict[str, str]) -> None:
        """Runs in the form's worker: a refusal keeps the form open with the values."""
        job = self.core.sites.create(self.token or "", values["name"], values["slug"],
                                     node=values["node"] or None,
                                     promotion_preset=values["preset"] or "content-protect")
        self.tell(f"site {values['slug']} created; {job.job_type} job {job.id[:8]} queued")

    def action_add_node(self) -> None:
        fields = [Field("name", "Name (a-z, 0-9, -)", placeholder="e.g. web-2"),
                  Field("hostname", "Host name or IP to SSH to"),
                  Field("port", "SSH port", "22"), Field("user", "SSH user", "root"),
                  Field("public_ip", "Public IPv4 (empty: none yet)"),
                  Field("local", "This host", "no", choices=("no", "yes"))]

        self.push_screen(FormScreen("Add a node", fields,
                                    "Install the control plane's SSH key first (k on the "
                                    "Nodes screen) in the user's authorized_keys; the user "
                                    "needs sudo without a password unless it is root. The "
                                    "node is checked at once; p then provisions it.",
                                    submit=self._add_node))

    def _add_node(self, values: dict[str, str]) -> None:
        """Runs in the form's worker: a refusal keeps the form open with the values."""
        token = self.token or ""
        node = self.core.nodes.register(
            token, values["name"].strip(), values["hostname"].strip(),
            ssh_port=values["port"].strip(),  # type: ignore[arg-type]  (register validates)
            ssh_user=values["user"].strip(), public_ip=values["public_ip"].strip() or None,
            is_local=values["local"] == "yes")
        job = self.core.nodes.check(token, node.id)
        self.tell(f"node {node.name} registered; checking it: job {job.id[:8]} (see Jobs)")

    def check_node(self, node_id: str) -> None:
        self._check_node(node_id)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _check_node(self, node_id: str) -> None:
        job = self.core.nodes.check(self.token or "", node_id)
        self.tell(f"checking the node: job {job.id[:8]}")

    def provision_node(self, node_id: str) -> None:
        node = self.core.nodes.get(self.token or "", node_id)
        lines = [f"node {node.name} ({node.ssh_user}@{node.hostname}:{node.ssh_port})",
                 "installs what is missing: nginx, PHP-FPM, MariaDB, rsync, zstd, certbot …",
                 "writes the default server (444 to unknown hosts, ACME path for every name)",
                 "opens 22/80/443 in ufw where the node has it; starts the services",
                 "safe to run again: a second run changes nothing and says so"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._provision_node(node.id)

        self.push_screen(ConfirmScreen(f"Provision node {node.name}?", lines), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _provision_node(self, node_id: str) -> None:
        job = self.core.nodes.provision(self.token or "", node_id)
        self.tell(f"provisioning the node: job {job.id[:8]} (see Jobs)")

    def forget_host_key(self, node_id: str) -> None:
        node = self.core.nodes.get(self.token or "", node_id)
        lines = [f"node {node.name} ({node.hostname}:{node.ssh_port})",
                 "the recorded SSH host key is cleared; the next connection trusts the key "
                 "the node then offers",
                 "do this only after comparing the fingerprint in the refusal with "
                 "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the node"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._forget_host_key(node.id)

        self.push_screen(ConfirmScreen(f"Forget the host key of {node.name}?", lines,
                                       require_word=node.name, danger=True), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _forget_host_key(self, node_id: str) -> None:
        node = self.core.nodes.forget_host_key(self.token or "", node_id)
        self.tell(f"node {node.name}: host key cleared")

    def edit_node_ip(self, node_id: str) -> None:
        node = self.core.nodes.get(self.token or "", node_id)

        self.push_screen(FormScreen(
            f"Public IP of node {node.name}",
            [Field("public_ip", "Public IPv4 (empty: none)", node.public_ip or "")],
            "New environments on this node get sslip.io preview URLs made from it; "
            "existing preview URLs stay as they are.",
            submit=lambda values: self._save_node_ip(node.id, values["public_ip"],
                                                     node.state_version)))

    def _save_node_ip(self, node_id: str, public_ip: str, version: int) -> None:
        node = self.core.nodes.update(self.token or "", node_id, public_ip=public_ip,
                                      expected_version=version)
        self.tell(f"node {node.name}: public IP {node.public_ip or '(none)'}")

    def cancel_job(self, job: JobRecord) -> None:
        if job.status not in ("queued", "running"):
            self.notify(f"job {job.id[:8]} is {job.status}; only queued or running jobs "
                        "can be cancelled", severity="warning", markup=False)
            return
        lines = [f"job {job.id[:8]} ({job.job_type}) is {job.status}",
                 "a running job's remote process is stopped; nothing is rolled back",
                 "an environment it was changing is marked failed"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._cancel_job(job.id)

        self.push_screen(ConfirmScreen("Cancel this job?", lines, danger=True),
                         decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _cancel_job(self, job_id: str) -> None:
        job = self.core.jobs.cancel(self.token or "", job_id)
        self.tell(f"job {job.id[:8]} cancelled")

    def edit_setting(self, key: str) -> None:
        current = self.core.settings.get(self.token or "", key)
        note = ("Secret: stored encrypted, never shown again. Leave empty to unset."
                if current.secret else "Leave empty to go back to the default.")
        value = "" if current.secret or current.is_default else (current.value or "")

        self.push_screen(FormScreen(f"Setting {key}",
                                    [Field("value", current.description, value,
                                           password=current.secret)], note,
                                    submit=lambda values: self._save_setting(
                                        key, values["value"])))

    def _save_setting(self, key: str, value: str) -> None:
        result = self.core.settings.set(self.token or "", key, value or None)
        self.tell(f"{key} {'saved' if result.is_set else 'unset'}")
