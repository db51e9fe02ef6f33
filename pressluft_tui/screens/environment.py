"""One environment: overview, releases, backups, domains and drift, as tabs. Each empty
tab says what to do to fill it. Its keys clone, deploy, roll back, check health and
reveal the WordPress login (see :mod:`pressluft_tui.env_actions`)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from pressluft_core.services.overview import EnvironmentDetail
from pressluft_tui import render
from pressluft_tui.screens.base import ResourceScreen
from pressluft_tui.widgets.resource_table import ResourceTable


class EnvironmentScreen(ResourceScreen[EnvironmentDetail]):
    # The tab bar, not the first table: focusing a table inside a tab would open that tab
    # instead of the overview. left/right switch tabs, tab moves into the table.
    AUTO_FOCUS = "Tabs"
    # `r` stays Refresh (as on every screen): rollback is `b`, so a habit cannot roll back.
    BINDINGS = [
        Binding("c", "clone", "Clone…", id="env.clone"),
        Binding("d", "deploy", "Deploy…", id="env.deploy"),
        Binding("b", "rollback", "Roll back", id="env.rollback"),
        Binding("h", "health", "Health", id="env.health"),
        Binding("w", "login", "WP login", id="env.login"),
    ]

    def __init__(self, site_id: str, environment_id: str, *, tab: str = "") -> None:
        super().__init__()
        self.site_id = site_id
        self.environment_id = environment_id
        self._initial_tab = tab

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="env-title", classes="summary")
        with TabbedContent(id="env-tabs", initial=self._initial_tab):
            with TabPane("Overview", id="tab-overview"):
                yield Static(id="env-overview")
            with TabPane("Releases", id="tab-releases"):
                # The source ref (a git URL and ref) is the widest: it goes last.
                yield ResourceTable(("", "Release", "Health", "Created", "Source", "Ref"),
                                    "No releases yet: the first comes with the site's "
                                    "creation; deploy to add more.", id="releases-table")
            with TabPane("Backups", id="tab-backups"):
                yield ResourceTable(("Backup", "Scope", "Status", "Size", "Keep until",
                                     "Checksum"),
                                    "No backups yet: configure storage in Settings, then "
                                    "take one.", id="backups-table")
            with TabPane("Domains", id="tab-domains"):
                yield ResourceTable(("Domain", "TLS", "Issuer", "Primary"),
                                    "No custom domains: the site answers on its preview URL.",
                                    id="domains-table")
            with TabPane("Drift", id="tab-drift"):
                yield ResourceTable(("Checked", "Preset", "Status"),
                                    "No drift check yet: one runs before every promotion.",
                                    id="drift-table")
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
        overview = [
            ("URL", render.plain(env.preview_url)),
            ("Node", render.plain(f"{data.node.name} ({data.node.hostname})")),
            ("Status", render.status(env.status)),
            ("Promotion preset", render.plain(env.promotion_preset)),
            ("Drift", Text.assemble(render.status(env.drift_status), " ",
                                    render.ago(env.drift_checked_at, now))),
            ("Current release", _current_release(data)),
            ("Created", render.plain(env.created_at)),
            ("Id", render.plain(env.id)),
        ]
        self.query_one("#env-overview", Static).update(Text("\n").join(
            Text.assemble(Text(f"{label:<18}", style="bold"), value)
            for label, value in overview))
        primary = env.primary_domain_id
        self.query_one("#releases-table", ResourceTable).set_rows([
            (r.id, [render.current_marker(r.id == env.current_release_id),
                    render.plain(render.release_name(r)), render.status(r.health_status),
                    render.plain(r.created_at), render.plain(r.source_type),
                    render.plain(r.source_ref)]) for r in data.releases])
        self.query_one("#backups-table", ResourceTable).set_rows([
            (b.id, [render.short_id(b.id), render.plain(b.backup_scope),
                    render.status(b.status), render.plain(_size(b.size_bytes)),
                    render.plain(b.retention_until), render.short_id(b.checksum)])
            for b in data.backups])
        self.query_one("#domains-table", ResourceTable).set_rows([
            (d.id, [render.plain(d.hostname), render.status(d.tls_status),
                    render.plain(d.tls_issuer), render.plain("yes" if d.id == primary else "")])
            for d in data.domains])
        self.query_one("#drift-table", ResourceTable).set_rows([
            (c.id, [render.plain(c.checked_at), render.plain(c.promotion_preset),
                    render.status(c.status)]) for c in data.drift_checks])

    def show_tab(self, tab: str) -> None:
        self.query_one("#env-tabs", TabbedContent).active = tab

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


def _current_release(data: EnvironmentDetail) -> Text:
    current = next((r for r in data.releases
                    if r.id == data.environment.current_release_id), None)
    if current is None:
        return render.short_id(data.environment.current_release_id)
    return Text.assemble(render.plain(render.release_name(current)), "  ",
                         render.status(current.health_status))


def _size(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
