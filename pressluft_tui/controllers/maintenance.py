"""Keeping an environment up: WordPress updates, its backup schedule, its preview URL, the
health check's expected text, and deleting a staging or clone environment.

Updating production asks first; when the core refuses because the same update has not
succeeded on a staging or clone environment in the last 7 days, a second confirmation
offers the override explicitly (typed: the site slug). Deleting needs the environment's
slug typed.
"""

from __future__ import annotations

from pressluft_core.errors import StateError
from pressluft_core.records import EnvironmentRecord
from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller, Target
from pressluft_tui.screens.form import Field

UPDATE_SCOPES = ("all", "core", "plugins", "themes")
UPDATE_NOTE = ("A database backup first; then a copy of the current release is updated with "
               "WordPress's own upgrader, switched to and health-checked. If the check fails, "
               "release and database go back automatically.")
PRODUCTION_NOTE = (" Production is updated only after the same scope succeeded on a staging "
                   "or clone environment of the site in the last 7 days.")
SEVEN_DAYS = "7 days"  # how the core's refusal names its rule
WHAT = {"all": "WordPress core, plugins and themes", "core": "WordPress core",
        "plugins": "the plugins", "themes": "the themes"}


def effective_schedule(env: EnvironmentRecord) -> str:
    return env.backup_schedule or ("daily" if env.environment_type == "production" else "off")


class Maintenance(Controller):
    # -- update -----------------------------------------------------------------------------

    def update(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_update)

    def _ask_update(self, target: Target) -> None:
        def chosen(values: dict[str, str]) -> None:
            if target.production:
                self._confirm_update(target, values["scope"])
            else:
                self._update(target, values["scope"], False)

        note = UPDATE_NOTE + (PRODUCTION_NOTE if target.production else "")
        self.ask(f"Update {target.label}", [
            Field("scope", "Update", "all", choices=UPDATE_SCOPES)], note, chosen)

    def _confirm_update(self, target: Target, scope: str) -> None:
        self.confirm(f"Update production of {target.site.name}?", [
            f"{target.label} · {target.env.preview_url}",
            f"updates {WHAT[scope]} with WordPress's own upgrader",
            "a database backup first; the update is built beside the current release, "
            "then switched to",
            "if its health check fails, release and database go back automatically"],
            lambda: self._update(target, scope, False), danger=True)

    @in_worker("action")
    def _update(self, target: Target, scope: str, override: bool) -> None:
        try:
            job = self.core.environments.update(self.token, target.site.id, target.env.id,
                                                scope, override=override)
        except StateError as refusal:
            if override or not target.production or SEVEN_DAYS not in str(refusal):
                raise
            self.ctx.call_from_thread(self._offer_override, target, scope, str(refusal))
            return
        self.tell(f"updating {scope} on {target.label}"
                  + (" (7-day rule overridden)" if override else "")
                  + f": {job.job_type} job {job.id[:8]} queued (see Jobs)")

    def _offer_override(self, target: Target, scope: str, refusal: str) -> None:
        self.confirm(f"Override and update production of {target.site.name}?", [
            f"refused: {refusal}",
            f"override: update {WHAT[scope]} on production now, untried on the site's "
            "other environments",
            "the safety net stays: database backup first, automatic rollback of release "
            "and database if the health check fails",
            "safer: update staging first (u there), then production within 7 days"],
            lambda: self._update(target, scope, True), require_word=target.site.slug,
            danger=True)

    # -- delete -----------------------------------------------------------------------------

    def delete(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_delete)

    def _ask_delete(self, target: Target) -> None:
        if target.production:  # never ask about a deletion the core would refuse
            self.refuse(f"{target.label}: a production environment cannot be deleted on its "
                        "own (only with its site)")
            return
        self.ask(f"Delete {target.label}", [
            Field("backup", "Backup first", "yes", choices=("yes", "no"))],
            "A full backup first keeps it restorable into the site's other environments. "
            "Without one (say no only when the storage is not set up or the data is "
            "worthless) it is gone for good. The next step asks for its slug.",
            lambda values: self._confirm_delete(target, values["backup"] == "yes"))

    def _confirm_delete(self, target: Target, backup: bool) -> None:
        self.confirm(f"Delete {target.label}?", [
            f"{target.env.environment_type} {target.label} · {target.env.preview_url}",
            ("a full backup first: restorable into the site's other environments"
             if backup else "NO backup: its files and database are gone for good"),
            "then its custom domains (certificates deleted), files, database, PHP-FPM "
            "pool and nginx site leave the node",
            "it leaves every list; production and the other environments are not "
            "touched"], lambda: self._delete(target, backup), require_word=target.env.slug,
            danger=True)

    @in_worker("action")
    def _delete(self, target: Target, backup: bool) -> None:
        job = self.core.environments.delete(self.token, target.site.id, target.env.id,
                                            confirm=target.env.slug, without_backup=not backup)
        self.tell(f"deleting {target.label}: {job.job_type} job {job.id[:8]} queued (see "
                  "Jobs)")

    # -- preview URL ------------------------------------------------------------------------

    def regenerate_preview_url(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._find_preview_url)

    @in_worker("action")
    def _find_preview_url(self, target: Target) -> None:
        new_url = self.core.environments.next_preview_url(self.token, target.site.id,
                                                          target.env.id)
        self.ctx.call_from_thread(self._ask_preview_url, target, new_url)

    def _ask_preview_url(self, target: Target, new_url: str) -> None:
        if new_url == target.env.preview_url:
            self.ctx.notify(f"{target.label} already has the preview URL the settings give: "
                            f"{new_url}; nothing was done", title="Nothing to do",
                            markup=False)
            return
        self.confirm(f"New preview URL for {target.label}?", [
            f"{target.label} · from {target.env.preview_url}", f"to {new_url}",
            "the preview server block moves (https ones with the node's wildcard "
            "certificate, got first if missing); while WordPress answers on the preview "
            "URL its URLs are rewritten too (serialized data included)",
            "health-checked on the new URL; if that fails, everything moves back"],
            lambda: self._regenerate_preview_url(target), danger=target.production)

    @in_worker("action")
    def _regenerate_preview_url(self, target: Target) -> None:
        job = self.core.environments.regenerate_preview_url(self.token, target.site.id,
                                                            target.env.id)
        self.tell(f"{target.label} moves to {job.payload['preview_url']}: {job.job_type} job "
                  f"{job.id[:8]} queued (see Jobs)")

    # -- backup schedule, the health check's expected text ----------------------------------

    def set_backup_schedule(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_schedule)

    def _ask_schedule(self, target: Target) -> None:
        current = target.env.backup_schedule or "default"
        default = "daily" if target.production else "off"
        self.ask(f"Backup schedule of {target.label}", [
            Field("schedule", "Schedule", current, choices=("default", "daily", "off"))],
            f"daily: a full backup every day at the backup_hour setting (UTC). off: none. "
            f"default: {default} for a {target.env.environment_type} environment. Now: "
            f"{effective_schedule(target.env)} ({current}).",
            lambda values: self._save_schedule(target, values["schedule"]))

    @in_worker("action")
    def _save_schedule(self, target: Target, schedule: str) -> None:
        env = self.core.environments.set_backup_schedule(self.token, target.site.id,
                                                         target.env.id, schedule)
        self.tell(f"{target.label}: backups {effective_schedule(env)}"
                  + (" (the default)" if env.backup_schedule is None else ""))

    def set_health_text(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_health_text)

    def _ask_health_text(self, target: Target) -> None:
        def submit(values: dict[str, str]) -> None:
            env = self.core.environments.set_health_text(self.token, target.site.id,
                                                         target.env.id, values["text"])
            self.tell(f"{target.label}: the health check looks for "
                      f"{env.health_expected_text or 'the site title'!r}")

        self.submit_form(f"Health check of {target.label}", [
            Field("text", "Text expected on the front page",
                  target.env.health_expected_text or "")],
            "Besides HTTP 200, a whole page (</html>) without PHP errors, wp-login.php and "
            "the database, the health check looks for this text on the front page. Empty: "
            "the site's title.", submit)
