"""One environment: overview, releases, backups, domains and drift, as tabs. Each empty
tab says what to do to fill it. Its keys clone, deploy, roll back, check health, reveal
the WordPress login (see :mod:`pressluft_tui.env_actions`), back up and restore
(:mod:`pressluft_tui.backup_actions`), update, delete, set the backup schedule
(:mod:`pressluft_tui.maintenance_actions`), check drift and promote
(:mod:`pressluft_tui.promote_actions`), add, remove and make primary a domain
(:mod:`pressluft_tui.domain_actions`)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from pressluft_core.services.overview import EnvironmentDetail
from pressluft_tui import render
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.backups_table import BackupsTable
from pressluft_tui.widgets.domains_table import DomainsTable
from pressluft_tui.widgets.drift_report import DriftSummary, drift_note
from pressluft_tui.widgets.env_overview import EnvironmentOverview
from pressluft_tui.widgets.resource_table import ResourceTable

# Actions only a staging or clone environment has (production is what gets promoted to,
# and it is deleted only with its site).
NOT_ON_PRODUCTION = {"promote", "drift_check", "delete"}
# Keys that act on the selected domain: only while the Domains tab is open.
DOMAINS_TAB_ONLY = {"remove_domain", "make_primary", "add_domain"}


class EnvironmentScreen(ResourceScreen[EnvironmentDetail]):
    # The tab bar, not the first table: focusing a table inside a tab would open that tab
    # instead of the overview. left/right switch tabs, tab moves into the table.
    AUTO_FOCUS = "Tabs"
    # `r` stays Refresh (as on every screen): rollback is `b`, so a habit cannot roll back.
    # `b` backs up instead while the Backups tab is open, wherever the focus is in it
    # (check_action below); the table's own keys restore (r) and verify (v) a backup.
    BINDINGS = [
        Binding("c", "clone", "Clone…", id="env.clone"),
        Binding("d", "deploy", "Deploy…", id="env.deploy"),
        Binding("b", "rollback", "Roll back", id="env.rollback",
                tooltip="to the previous healthy release; in the Backups tab b backs up"),
        Binding("b", "new_backup", "Back up…", id="env.backup",
                tooltip="in the Backups tab only (elsewhere b rolls back): a full, "
                        "database or files backup to the storage"),
        Binding("h", "health", "Health", id="env.health"),
        Binding("w", "login", "WP login", id="env.login"),
        Binding("u", "update", "Update…", id="env.update",
                tooltip="WordPress core, plugins, themes or all, with automatic rollback"),
        Binding("p", "promote", "Promote…", id="env.promote",
                tooltip="staging/clone to production: drift check, plan, confirmation"),
        Binding("k", "drift_check", "Check drift", id="env.drift", show=False,
                tooltip="compare production now with this environment's clone baseline"),
        Binding("s", "schedule", "Backup schedule…", id="env.schedule", show=False,
                tooltip="daily, off or the default (production daily)"),
        Binding("D", "deploy_plan", "Deploy plan…", id="env.deploy_plan", show=False,
                tooltip="what a deploy would add, replace and keep; nothing is switched"),
        Binding("e", "health_text", "Health check text…", id="env.health_text", show=False,
                tooltip="text the health check expects on the front page (default: title)"),
        Binding("g", "preview_url", "New preview URL…", id="env.preview_url", show=False,
                tooltip="move to the preview URL the settings give now (asks first)"),
        Binding("M", "move", "Move to node…", id="env.move", show=False,
                tooltip="stream it to another node, health-check it there, switch (URLs "
                        "unchanged; DNS is yours to change)"),
        Binding("O", "remove_old_copy", "Remove old copy…", id="env.remove_old_copy",
                show=False, tooltip="after a move: the copy left on the node it came from"),
        Binding("x", "delete", "Delete…", id="env.delete", show=False,
                tooltip="staging/clone only: backup first, then typed confirmation; in "
                        "the Domains tab x removes a domain"),
        # Domains: a adds one anywhere on the screen (shown in the footer only in the
        # Domains tab, to keep it short); x and m act on the selected domain and hold only
        # while the Domains tab is open (check_action).
        Binding("a", "add_domain", "Add domain…", id="env.domain_add",
                tooltip="host name, primary or not: DNS check, certificate, nginx"),
        Binding("a", "add_domain_elsewhere", "Add domain…", id="env.domain_add_elsewhere",
                show=False),
        Binding("m", "make_primary", "Make primary…", id="env.domain_primary",
                tooltip="the selected domain becomes WordPress's URL (asks first)"),
        Binding("x", "remove_domain", "Remove domain…", id="env.domain_remove",
                tooltip="in the Domains tab only (elsewhere x deletes the environment): "
                        "the selected domain, its host name typed"),
    ]

    def __init__(self, site_id: str, environment_id: str, *, tab: str = "") -> None:
        super().__init__()
        self.site_id = site_id
        self.environment_id = environment_id
        self._initial_tab = tab
        self.environment_type: str | None = None  # known after the first load

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="env-title", classes="summary")
        with TabbedContent(id="env-tabs", initial=self._initial_tab):
            with TabPane("Overview", id="tab-overview"):
                yield EnvironmentOverview(id="env-overview")
            with TabPane("Releases", id="tab-releases"):
                # The source ref (a git URL and ref) is the widest: it goes last.
                yield ResourceTable(("", "Release", "Health", "Created", "Source", "Ref"),
                                    "No releases yet: the first comes with the site's "
                                    "creation; deploy to add more.", id="releases-table")
            with TabPane("Backups", id="tab-backups"):
                yield BackupsTable(id="backups-table")
            with TabPane("Domains", id="tab-domains"):
                yield DomainsTable(id="domains-table")
            with TabPane("Drift", id="tab-drift"):
                with VerticalScroll(id="drift-scroll"):
                    yield DriftSummary(id="drift-summary")
                yield ResourceTable(("Checked", "Preset", "Status", "Check", ""),
                                    "No drift check yet.", id="drift-table")
        yield Footer()

    def fetch(self) -> EnvironmentDetail:
        return self.core.overview.environment(self.token, self.environment_id)

    def present(self, data: EnvironmentDetail) -> None:
        env = data.environment
        self.sub_title = f"{data.site.slug} / {env.slug}"
        self.query_one("#env-title", Static).update(Text.assemble(
            render.env_badge(env.environment_type), " ", Text(f"{data.site.name} — {env.name}",
                                                              style="bold"),
            "  ", render.status(env.status)))
        now = self.core.rt.clock.now()
        self.query_one(EnvironmentOverview).show(data, now)
        self.query_one("#releases-table", ResourceTable).set_rows([
            (r.id, [render.current_marker(r.id == env.current_release_id),
                    render.plain(render.release_name(r)), render.status(r.health_status),
                    render.plain(r.created_at), render.plain(r.source_type),
                    render.plain(r.source_ref)]) for r in data.releases])
        self.query_one(BackupsTable).show(data.backups, now)
        self.query_one(DomainsTable).show(data.domains, env.primary_domain_id, now)
        self.query_one(DriftSummary).show(env, data.drift_checks, now)
        self.query_one("#drift-table", ResourceTable).set_rows([
            (c.id, [render.stamp(c.checked_at), render.plain(c.promotion_preset),
                    render.status(c.status), render.short_id(c.id),
                    render.plain(drift_note(c))]) for c in data.drift_checks])
        if self.environment_type != env.environment_type:
            self.environment_type = env.environment_type
            self.refresh_bindings()

    # -- which keys hold where -------------------------------------------------------------

    def _tab(self) -> str:
        try:
            return self.query_one("#env-tabs", TabbedContent).active
        except NoMatches:  # not composed yet
            return ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rollback":
            return self._tab() != "tab-backups"
        if action == "new_backup":
            return self._tab() == "tab-backups"
        if action in DOMAINS_TAB_ONLY:
            return self._tab() == "tab-domains"
        if action == "add_domain_elsewhere":
            return self._tab() != "tab-domains"
        if action == "delete" and self._tab() == "tab-domains":
            return False  # x removes a domain there
        if action in NOT_ON_PRODUCTION:
            return self.environment_type != "production"
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def show_tab(self, tab: str, *, focus_table: bool = False) -> None:
        self.query_one("#env-tabs", TabbedContent).active = tab
        if focus_table:
            self.query_one(f"#{tab} ResourceTable", ResourceTable).focus_table()

    # -- actions -------------------------------------------------------------------------

    def action_clone(self) -> None:
        self.console.clone_environment(self.site_id, self.environment_id)

    def action_deploy(self) -> None:
        self.console.deploy_environment(self.site_id, self.environment_id)

    def action_rollback(self) -> None:
        self.console.rollback_environment(self.site_id, self.environment_id)

    def action_health(self) -> None:
        self.console.check_environment_health(self.site_id, self.environment_id)

    def action_login(self) -> None:
        self.console.show_wordpress_login(self.site_id, self.environment_id)

    def action_new_backup(self) -> None:
        self.console.create_backup(self.site_id, self.environment_id)

    def action_restore_backup(self) -> None:
        backup_id = self.query_one(BackupsTable).selected_key
        if backup_id:
            self.console.restore_backup(self.site_id, backup_id)

    def action_verify_backup(self) -> None:
        backup_id = self.query_one(BackupsTable).selected_key
        if backup_id:
            self.console.verify_backup(backup_id)

    def action_preview_url(self) -> None:
        self.console.regenerate_preview_url(self.site_id, self.environment_id)

    def action_update(self) -> None:
        self.console.update_environment(self.site_id, self.environment_id)

    def action_delete(self) -> None:
        self.console.delete_environment(self.site_id, self.environment_id)

    def action_move(self) -> None:
        self.console.move_environment(self.site_id, self.environment_id)

    def action_remove_old_copy(self) -> None:
        self.console.remove_old_copy(self.site_id, self.environment_id)

    def action_schedule(self) -> None:
        self.console.set_backup_schedule(self.site_id, self.environment_id)

    def action_deploy_plan(self) -> None:
        self.console.plan_deploy(self.site_id, self.environment_id)

    def action_health_text(self) -> None:
        self.console.set_health_text(self.site_id, self.environment_id)

    def action_drift_check(self) -> None:
        self.console.check_drift(self.site_id, self.environment_id)

    def action_promote(self) -> None:
        self.console.promote_environment(self.site_id, self.environment_id)

    def action_add_domain(self) -> None:
        self.console.add_domain(self.site_id, self.environment_id)

    action_add_domain_elsewhere = action_add_domain

    def _selected_domain(self) -> str | None:
        domain_id = self.query_one(DomainsTable).selected_key
        if domain_id is None:
            self.notify("This environment has no domain yet: a adds one.", markup=False)
        return domain_id

    def action_remove_domain(self) -> None:
        domain_id = self._selected_domain()
        if domain_id:
            self.console.remove_domain(self.site_id, self.environment_id, domain_id)

    def action_make_primary(self) -> None:
        domain_id = self._selected_domain()
        if domain_id:
            self.console.make_primary_domain(self.site_id, self.environment_id, domain_id)
