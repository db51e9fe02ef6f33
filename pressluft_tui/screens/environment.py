"""One environment: overview, releases, backups, domains and drift, as tabs. Each empty
tab says what to do to fill it. Its keys (clone, deploy, roll back, back up, update,
promote, add or remove a domain …) come from the action table (:mod:`pressluft_tui.actions`);
this screen says which of them hold in which tab and for which kind of environment."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from pressluft_core.services.overview import EnvironmentDetail
from pressluft_tui import render
from pressluft_tui.actions import bindings
from pressluft_tui.context import Selection
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.backups_table import BackupsTable
from pressluft_tui.widgets.domains_table import DomainsTable
from pressluft_tui.widgets.drift_report import DriftSummary, drift_note
from pressluft_tui.widgets.env_overview import EnvironmentOverview
from pressluft_tui.widgets.resource_table import ResourceTable

# Actions only a staging or clone environment has (production is what gets promoted to,
# and it is deleted only with its site).
NOT_ON_PRODUCTION = {"env.promote", "env.drift", "env.delete"}
# Keys that act on the selected domain: only while the Domains tab is open. `a` adds one
# anywhere on the screen, but shows in the footer only in the Domains tab (to keep it
# short): elsewhere its twin `env.domain_add_elsewhere` holds, hidden.
DOMAINS_TAB_ONLY = {"env.domain_remove", "env.domain_primary", "env.domain_add"}


class EnvironmentScreen(ResourceScreen[EnvironmentDetail]):
    # The tab bar, not the first table: focusing a table inside a tab would open that tab
    # instead of the overview. left/right switch tabs, tab moves into the table.
    AUTO_FOCUS = "Tabs"
    # `r` stays Refresh (as on every screen): rollback is `b`, so a habit cannot roll back.
    # `b` backs up instead while the Backups tab is open, wherever the focus is in it
    # (check_action below); the table's own keys restore (r) and verify (v) a backup.
    BINDINGS = bindings("environment")

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
        if action != "run" or not parameters:
            return True
        binding = parameters[0]
        if binding == "env.rollback":
            return self._tab() != "tab-backups"
        if binding == "env.backup":
            return self._tab() == "tab-backups"
        if binding in DOMAINS_TAB_ONLY:
            return self._tab() == "tab-domains"
        if binding == "env.domain_add_elsewhere":
            return self._tab() != "tab-domains"
        if binding == "env.delete" and self._tab() == "tab-domains":
            return False  # x removes a domain there
        if binding in NOT_ON_PRODUCTION:
            return self.environment_type != "production"
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def show_tab(self, tab: str, *, focus_table: bool = False) -> None:
        self.query_one("#env-tabs", TabbedContent).active = tab
        if focus_table:
            self.query_one(f"#{tab} ResourceTable", ResourceTable).focus_table()

    # -- what the keys act on ----------------------------------------------------------------

    def selection(self) -> Selection:
        """This environment, and the selected backup and domain of their tabs."""
        return Selection(site_id=self.site_id, environment_id=self.environment_id,
                         backup_id=self.query_one(BackupsTable).selected_key,
                         domain_id=self.query_one(DomainsTable).selected_key)
