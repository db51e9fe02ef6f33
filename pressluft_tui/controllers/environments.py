"""What the operator can do to one environment: clone it, deploy to it (or plan a
deploy), roll it back, check its health, reveal its WordPress login.

Anything that changes production asks first: deploy and rollback. A clone only reads
production, so it does not ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from pressluft_core.errors import ValidationError
from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller, Target
from pressluft_tui.render import release_name
from pressluft_tui.screens.form import Field
from pressluft_tui.screens.info import InfoScreen


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
SOURCE_FIELDS = (
    Field("git_url", "Git repository (https://, ssh://, user@host:path …)"),
    Field("git_ref", "Branch, tag or commit", "main"),
    Field("archive", "… or an archive here (.tar.gz, .tgz, .tar.zst, .zip)"),
    Field("into", "Into (a repository that is one theme or plugin: themes/NAME, "
                  "plugins/NAME)"))


class Environments(Controller):
    # -- entry points (the action table) ---------------------------------------------------

    def clone(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_clone)

    def deploy(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_deploy)

    def plan_deploy(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_plan)

    def rollback(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_rollback)

    def check_health(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._health)

    def show_login(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._login)

    # -- clone ------------------------------------------------------------------------------

    def _ask_clone(self, target: Target) -> None:
        fields = [Field("name", "Name", placeholder="e.g. Staging"),
                  Field("slug", "Slug (a-z, 0-9, -)", placeholder="e.g. staging"),
                  Field("type", "Type", "staging", choices=("staging", "clone")),
                  Field("quarantine", "Quarantine", "yes", choices=("yes", "no")),
                  Field("cron", "WP-Cron", "off", choices=("off", "on")),
                  Field("expires", "Expires after … hours (empty: never)"),
                  Field("node", "Node", target.node_name,
                        choices=(target.node_name, *target.other_nodes()))]
        self.submit_form(f"Clone {target.label}", fields,
                         CLONE_NOTE.format(label=target.label),
                         lambda values: self._clone(target, values))

    def _clone(self, target: Target, values: dict[str, str]) -> None:
        """Runs in the form's worker: a refusal keeps the form open with the values."""
        expires = values["expires"].strip()
        if expires and not expires.isdigit():
            raise ValidationError("expires_in_hours", f"{expires!r} is not a whole number of "
                                                      "hours; leave it empty for never")
        job = self.core.environments.clone(
            self.token, target.site.id, target.env.id, values["name"], values["slug"],
            environment_type=values["type"], quarantine=values["quarantine"] == "yes",
            cron=values["cron"] == "on", expires_in_hours=int(expires) if expires else None,
            node=values["node"] if values["node"] != target.node_name else None)
        self.tell(f"cloning {target.label} to {target.site.slug}/{values['slug']}: "
                  f"{job.job_type} job {job.id[:8]} queued (see Jobs)")

    # -- deploy -----------------------------------------------------------------------------

    def _ask_deploy(self, target: Target) -> None:
        fields = [*SOURCE_FIELDS,
                  Field("allow_missing", "Allow a release without the active theme or "
                                         "plugins: type the site's slug")]
        to_confirm: list[DeploySource] = []

        def submit(values: dict[str, str]) -> None:
            """In the form's worker: a refused source keeps the form open. Production is
            deployed only after the confirmation, so the source is checked here first."""
            source = DeploySource.from_form(values, target.site.slug)
            if target.production:
                self.core.environments.check_deploy_source(
                    self.token, git_url=source.git_url, git_ref=source.git_ref,
                    archive=source.archive, into=source.into)
                to_confirm.append(source)
            else:
                self._deploy_now(target, source)

        def closed(values: dict[str, str] | None) -> None:
            if values and to_confirm:
                self._confirm_deploy(target, to_confirm[-1])

        self.submit_form(f"Deploy to {target.label}", fields, DEPLOY_NOTE, submit, closed)

    def _ask_plan(self, target: Target) -> None:
        def submit(values: dict[str, str]) -> None:
            source = DeploySource.from_form({**values, "allow_missing": ""})
            job = self.core.environments.plan_deploy(
                self.token, target.site.id, target.env.id, git_url=source.git_url,
                git_ref=source.git_ref, archive=source.archive, into=source.into)
            self.tell(f"planning a deploy to {target.label}: job {job.id[:8]} lists what it "
                      "would add, replace and keep (see Jobs); nothing is switched")

        self.submit_form(f"Deploy plan for {target.label}", SOURCE_FIELDS, PLAN_NOTE, submit)

    def _confirm_deploy(self, target: Target, source: DeploySource) -> None:
        self.confirm(f"Deploy to production of {target.site.name}?", [
            f"{target.label} · {target.env.preview_url}",
            f"from {source.describe()}",
            "builds a new release beside the current one: each theme, plugin and "
            "mu-plugin in it replaces its namesake, everything else is kept; refused "
            "before the switch when it lacks the active theme or an active plugin"
            + (" (allowed: typed)" if source.allow_missing else ""),
            "then switches production to it (D, deploy plan, lists the entries first)",
            "if its health check fails, production switches straight back to release "
            f"{release_name(target.current)}"], lambda: self._deploy(target, source),
            danger=True)

    @in_worker("action")
    def _deploy(self, target: Target, source: DeploySource) -> None:
        self._deploy_now(target, source)

    def _deploy_now(self, target: Target, source: DeploySource) -> None:
        job = self.core.environments.deploy(self.token, target.site.id, target.env.id,
                                            git_url=source.git_url, git_ref=source.git_ref,
                                            archive=source.archive, into=source.into,
                                            allow_missing=source.allow_missing)
        self.tell(f"deploying to {target.label}: {job.job_type} job {job.id[:8]} queued "
                  "(see Jobs)")

    # -- rollback, health, login ------------------------------------------------------------

    def _ask_rollback(self, target: Target) -> None:
        if not target.production:
            self._rollback(target)
            return
        previous = target.rollback_target()
        if previous is None:  # never ask about a rollback the core would refuse
            self.refuse(f"{target.label} has no earlier healthy release to roll back to")
            return
        current = release_name(target.current)
        self.confirm(f"Roll back production of {target.site.name}?", [
            f"{target.label}: release {current} → {release_name(previous)}",
            f"back to {previous.source_type} {previous.source_ref} from "
            f"{previous.created_at}",
            "switches production back in one step, then checks its health",
            f"nothing is deleted: release {current} stays in the list"],
            lambda: self._rollback(target), danger=True)

    @in_worker("action")
    def _rollback(self, target: Target) -> None:
        job = self.core.environments.rollback(self.token, target.site.id, target.env.id)
        self.tell(f"rolling back {target.label}: {job.job_type} job {job.id[:8]} queued "
                  "(see Jobs)")

    @in_worker("action")
    def _health(self, target: Target) -> None:
        job = self.core.environments.health(self.token, target.site.id, target.env.id)
        self.tell(f"checking the health of {target.label}: job {job.id[:8]} queued")

    @in_worker("action")
    def _login(self, target: Target) -> None:
        login = self.core.environments.login(self.token, target.site.id, target.env.id)
        self.ctx.call_from_thread(self.ctx.push_screen, InfoScreen(
            f"WordPress login of {target.label}",
            [f"URL       {login['url']}", f"User      {login['user']}",
             f"Password  {login['password']}", "",
             "Every reveal of this login is recorded in the audit log."]))
