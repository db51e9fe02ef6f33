"""What the operator can do to one environment: clone it, deploy to it, roll it back,
check its health, reveal its WordPress login, show its releases.

Mixed into :class:`PressluftApp` like :class:`~pressluft_tui.actions.ConsoleActions`.
Each action first loads the environment in a thread worker (so its dialogs can name
what they act on), then asks on the UI thread; the core call runs in another worker and
its errors reach the app's one handler. Anything that changes production asks first:
deploy and rollback. A clone only reads production, so it does not ask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work

from pressluft_core.errors import ValidationError
from pressluft_core.records import EnvironmentRecord, NodeRecord, ReleaseRecord, SiteRecord
from pressluft_tui.render import release_name
from pressluft_tui.screens.confirm import ConfirmScreen
from pressluft_tui.screens.form import Field, FormScreen
from pressluft_tui.screens.info import InfoScreen

if TYPE_CHECKING:
    from textual.app import App

    from pressluft_core.app import Pressluft

    _AppBase = App[None]
else:
    _AppBase = object


@dataclass(frozen=True)
class Target:
    """An environment, as its dialogs describe it."""

    site: SiteRecord
    env: EnvironmentRecord
    releases: list[ReleaseRecord]  # newest first
    nodes: tuple[NodeRecord, ...] = ()  # every node, for choosing where a copy goes

    @property
    def label(self) -> str:
        return f"{self.site.slug}/{self.env.slug}"

    @property
    def production(self) -> bool:
        return self.env.environment_type == "production"

    @property
    def node_name(self) -> str:
        return next((n.name for n in self.nodes if n.id == self.env.node_id), self.env.node_id)

    def other_nodes(self) -> tuple[str, ...]:
        """Active nodes other than the environment's: where it can be moved."""
        return tuple(n.name for n in self.nodes
                     if n.status == "active" and n.id != self.env.node_id)

    @property
    def current(self) -> ReleaseRecord | None:
        return next((r for r in self.releases if r.id == self.env.current_release_id), None)

    def rollback_target(self) -> ReleaseRecord | None:
        """The newest healthy release before the current one: where the core's rollback
        goes (the core decides; the confirmation names it)."""
        current = self.current
        return next((r for r in self.releases if r.health_status == "healthy" and (
            current is None or (r.id != current.id and r.created_at <= current.created_at))),
            None)


@dataclass(frozen=True)
class DeploySource:
    git_url: str | None
    git_ref: str | None
    archive: str | None
    into: str | None = None
    allow_missing: bool = False

    @classmethod
    def from_form(cls, values: dict[str, str], slug: str = "") -> DeploySource:
        """What the form gives (empty fields as None); the core checks it is exactly one
        source. Allowing a release without the active theme or plugins is confirmed by
        typing the site's slug."""
        git_url, archive = values["git_url"].strip() or None, values["archive"].strip() or None
        typed = values.get("allow_missing", "").strip()
        if typed and typed != slug:
            raise ValidationError("allow_missing", f"type the site's slug ({slug}) to allow "
                                                   "a release without the active theme or "
                                                   "plugins, or leave it empty")
        return cls(git_url, (values["git_ref"].strip() or "main") if git_url else None,
                   archive, values.get("into", "").strip() or None, bool(typed))

    def describe(self) -> str:
        where = f" into wp-content/{self.into}" if self.into else ""
        if self.archive:
            return f"the archive {self.archive} (copied now){where}"
        return f"git {self.git_url} at {self.git_ref}{where}"


PLAN_NOTE = ("Builds the release a deploy would build, beside the current one, and throws it "
             "away: the job's log lists each theme, plugin and mu-plugin it would add, "
             "replace and keep, and whether it lacks the active theme or plugins.")
CLONE_NOTE = ("Copies code, uploads and database (URLs rewritten) to a new environment on "
              "the node chosen (another node gets the copy streamed over); {label} is only "
              "read. Quarantine: mail captured, search engines discouraged.")
DEPLOY_NOTE = ("Builds a new release from a git repository or an archive (give one of them) "
               "and switches to it; a failed health check switches straight back.")


class EnvironmentActions(_AppBase):
    """Mixed into :class:`PressluftApp`; needs ``core``, ``token`` and ``tell``."""

    core: Pressluft
    token: str | None
    tell: Callable[[str], None]

    # -- entry points (bindings and the command palette) --------------------------------

    def clone_environment(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._ask_clone)

    def deploy_environment(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._ask_deploy)

    def rollback_environment(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._ask_rollback)

    def check_environment_health(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._health)

    def show_wordpress_login(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._login)

    def show_releases(self, site_id: str, env_id: str) -> None:
        from pressluft_tui.screens.environment import EnvironmentScreen

        screen = self.screen
        if isinstance(screen, EnvironmentScreen) and screen.environment_id == env_id:
            screen.show_tab("tab-releases")
        else:
            self.push_screen(EnvironmentScreen(site_id, env_id, tab="tab-releases"))

    @work(thread=True, exclusive=True, group="env-load", exit_on_error=False)
    def _load(self, site_id: str, env_id: str, then: Callable[[Target], object]) -> None:
        token = self.token or ""
        target = Target(self.core.sites.get(token, site_id),
                        self.core.environments.get(token, site_id, env_id),
                        self.core.environments.releases(token, site_id, env_id),
                        tuple(self.core.nodes.list(token)))
        self.call_from_thread(then, target)

    # -- clone ----------------------------------------------------------------------------

    def _ask_clone(self, target: Target) -> None:
        fields = [Field("name", "Name", placeholder="e.g. Staging"),
                  Field("slug", "Slug (a-z, 0-9, -)", placeholder="e.g. staging"),
                  Field("type", "Type", "staging", choices=("staging", "clone")),
                  Field("quarantine", "Quarantine", "yes", choices=("yes", "no")),
                  Field("cron", "WP-Cron", "off", choices=("off", "on")),
                  Field("expires", "Expires after … hours (empty: never)"),
                  Field("node", "Node", target.node_name,
                        choices=(target.node_name, *target.other_nodes()))]

        self.push_screen(FormScreen(f"Clone {target.label}", fields,
                                    CLONE_NOTE.format(label=target.label),
                                    submit=lambda values: self._clone(target, values)))

    def _clone(self, target: Target, values: dict[str, str]) -> None:
        """Runs in the form's worker: a refusal keeps the form open with the values."""
        expires = values["expires"].strip()
        if expires and not expires.isdigit():
            raise ValidationError("expires_in_hours", f"{expires!r} is not a whole number of "
                                                      "hours; leave it empty for never")
        job = self.core.environments.clone(
            self.token or "", target.site.id, target.env.id, values["name"], values["slug"],
            environment_type=values["type"], quarantine=values["quarantine"] == "yes",
            cron=values["cron"] == "on", expires_in_hours=int(expires) if expires else None,
            node=values["node"] if values["node"] != target.node_name else None)
        self.tell(f"cloning {target.label} to {target.site.slug}/{values['slug']}: "
                  f"{job.job_type} job {job.id[:8]} queued (see Jobs)")

    # -- deploy ---------------------------------------------------------------------------

    def _ask_deploy(self, target: Target) -> None:
        fields = [Field("git_url", "Git repository (https://, ssh://, user@host:path …)"),
                  Field("git_ref", "Branch, tag or commit", "main"),
                  Field("archive", "… or an archive here (.tar.gz, .tgz, .tar.zst, .zip)"),
                  Field("into", "Into (a repository that is one theme or plugin: "
                                "themes/NAME, plugins/NAME)"),
                  Field("allow_missing", "Allow a release without the active theme or "
                                         "plugins: type the site's slug")]

        to_confirm: list[DeploySource] = []

        def submit(values: dict[str, str]) -> None:
            """In the form's worker: a refused source keeps the form open. Production is
            deployed only after the confirmation, so the source is checked here first."""
            source = DeploySource.from_form(values, target.site.slug)
            if target.production:
                self.core.environments.check_deploy_source(
                    self.token or "", git_url=source.git_url, git_ref=source.git_ref,
                    archive=source.archive, into=source.into)
                to_confirm.append(source)
            else:
                self._deploy_now(target, source)

        def closed(values: dict[str, str] | None) -> None:
            if values and to_confirm:
                self._confirm_deploy(target, to_confirm[-1])

        self.push_screen(FormScreen(f"Deploy to {target.label}", fields, DEPLOY_NOTE,
                                    submit=submit), closed)

    def plan_deploy(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._ask_plan)

    def _ask_plan(self, target: Target) -> None:
        def submit(values: dict[str, str]) -> None:
            source = DeploySource.from_form({**values, "allow_missing": ""})
            job = self.core.environments.plan_deploy(
                self.token or "", target.site.id, target.env.id, git_url=source.git_url,
                git_ref=source.git_ref, archive=source.archive, into=source.into)
            self.tell(f"planning a deploy to {target.label}: job {job.id[:8]} lists what it "
                      "would add, replace and keep (see Jobs); nothing is switched")

        self.push_screen(FormScreen(f"Deploy plan for {target.label}", [
            Field("git_url", "Git repository (https://, ssh://, user@host:path …)"),
            Field("git_ref", "Branch, tag or commit", "main"),
            Field("archive", "… or an archive here (.tar.gz, .tgz, .tar.zst, .zip)"),
            Field("into", "Into (a repository that is one theme or plugin: themes/NAME, "
                          "plugins/NAME)")], PLAN_NOTE, submit=submit))

    def _confirm_deploy(self, target: Target, source: DeploySource) -> None:
        lines = [f"{target.label} · {target.env.preview_url}",
                 f"from {source.describe()}",
                 "builds a new release beside the current one: each theme, plugin and "
                 "mu-plugin in it replaces its namesake, everything else is kept; refused "
                 "before the switch when it lacks the active theme or an active plugin"
                 + (" (allowed: typed)" if source.allow_missing else ""),
                 "then switches production to it (D, deploy plan, lists the entries first)",
                 "if its health check fails, production switches straight back to release "
                 f"{release_name(target.current)}"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._deploy(target, source)

        self.push_screen(ConfirmScreen(f"Deploy to production of {target.site.name}?",
                                       lines, danger=True), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _deploy(self, target: Target, source: DeploySource) -> None:
        self._deploy_now(target, source)

    def _deploy_now(self, target: Target, source: DeploySource) -> None:
        job = self.core.environments.deploy(self.token or "", target.site.id, target.env.id,
                                            git_url=source.git_url, git_ref=source.git_ref,
                                            archive=source.archive, into=source.into,
                                            allow_missing=source.allow_missing)
        self.tell(f"deploying to {target.label}: {job.job_type} job {job.id[:8]} queued "
                  "(see Jobs)")

    # -- rollback, health, login ---------------------------------------------------------

    def _ask_rollback(self, target: Target) -> None:
        if not target.production:
            self._rollback(target)
            return
        previous = target.rollback_target()
        if previous is None:  # never ask about a rollback the core would refuse
            self.notify(f"{target.label} has no earlier healthy release to roll back to; "
                        "nothing was done", title="Refused", severity="error", markup=False)
            return
        current = release_name(target.current)
        lines = [f"{target.label}: release {current} → {release_name(previous)}",
                 f"back to {previous.source_type} {previous.source_ref} from "
                 f"{previous.created_at}",
                 "switches production back in one step, then checks its health",
                 f"nothing is deleted: release {current} stays in the list"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._rollback(target)

        self.push_screen(ConfirmScreen(f"Roll back production of {target.site.name}?",
                                       lines, danger=True), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _rollback(self, target: Target) -> None:
        job = self.core.environments.rollback(self.token or "", target.site.id, target.env.id)
        self.tell(f"rolling back {target.label}: {job.job_type} job {job.id[:8]} queued "
                  "(see Jobs)")

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _health(self, target: Target) -> None:
        job = self.core.environments.health(self.token or "", target.site.id, target.env.id)
        self.tell(f"checking the health of {target.label}: job {job.id[:8]} queued")

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _login(self, target: Target) -> None:
        login = self.core.environments.login(self.token or "", target.site.id, target.env.id)
        self.call_from_thread(self.push_screen, InfoScreen(
            f"WordPress login of {target.label}",
            [f"URL       {login['url']}", f"User      {login['user']}",
             f"Password  {login['password']}", "",
             "Every reveal of this login is recorded in the audit log."]))
