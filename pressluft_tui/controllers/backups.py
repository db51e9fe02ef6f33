"""Backups: take one, restore one into its environment or another of the site, run a
restore drill, clean up expired ones.

A restore replaces an environment's data, so it always asks first and says which
pre-restore backup is the way back; taking a backup or a drill changes no environment
and does not ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from pressluft_core.errors import NotFoundError
from pressluft_core.records import BackupRecord, EnvironmentRecord, SiteRecord
from pressluft_tui import render
from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller, Target
from pressluft_tui.screens.form import Field
from pressluft_tui.screens.pick import PickScreen

SCOPE_NOTE = ("full: the database and wp-content; db: the database only; files: wp-content "
              "only (cache directories left out). Streamed to the storage with its SHA-256 "
              "recorded, kept for backup_retention_days (Settings).")
REPLACED = {"full": "database and files (wp-content)", "db": "database",
            "files": "files (wp-content)"}


@dataclass(frozen=True)
class RestoreChoice:
    """A backup and where it could go: active environments of its site with a release."""

    site: SiteRecord
    backup: BackupRecord
    environments: list[EnvironmentRecord]

    def label(self, env: EnvironmentRecord | None) -> str:
        return f"{self.site.slug}/{env.slug if env else '(deleted environment)'}"

    @property
    def source(self) -> EnvironmentRecord | None:
        return next((e for e in self.environments if e.id == self.backup.environment_id),
                    None)

    @property
    def targets(self) -> list[EnvironmentRecord]:
        """The backup's own environment first, then the others in the site's order."""
        usable = [e for e in self.environments
                  if e.status == "active" and e.current_release_id is not None]
        return sorted(usable, key=lambda e: e.id != self.backup.environment_id)


class Backups(Controller):
    # -- create -----------------------------------------------------------------------------

    def create(self, site_id: str, env_id: str) -> None:
        self.with_target(site_id, env_id, self._ask_backup)

    def _ask_backup(self, target: Target) -> None:
        self.ask(f"Back up {target.label}", [
            Field("scope", "Scope", "full", choices=("full", "db", "files"))], SCOPE_NOTE,
            lambda values: self._create(target, values["scope"]))

    @in_worker("action")
    def _create(self, target: Target, scope: str) -> None:
        job = self.core.backups.create(self.token, target.site.id, target.env.id, scope)
        self.tell(f"backing up {target.label} ({scope}): {job.job_type} job {job.id[:8]} "
                  "queued (see Jobs)")

    # -- restore ----------------------------------------------------------------------------

    @in_worker("env-load")
    def restore(self, site_id: str, backup_id: str) -> None:
        token = self.token
        backup = next((b for b in self.core.backups.list(token, site_id) if b.id == backup_id),
                      None)
        if backup is None:
            raise NotFoundError(f"backup {backup_id[:8]} is no longer there")
        choice = RestoreChoice(self.core.sites.get(token, site_id), backup,
                               self.core.environments.list(token, site_id))
        self.ctx.call_from_thread(self._ask_restore_target, choice)

    def _ask_restore_target(self, choice: RestoreChoice) -> None:
        backup, targets = choice.backup, choice.targets
        if backup.status != "completed":  # never ask about a restore the core would refuse
            self.refuse(f"backup {backup.id[:8]} is {backup.status}: only completed backups "
                        "can be restored")
            return
        if not targets:
            self.refuse(f"{choice.site.slug} has no active environment to restore into")
            return
        if len(targets) == 1:
            self._confirm_restore(choice, targets[0])
            return
        self.ask(f"Restore backup {backup.id[:8]} of {choice.label(choice.source)}",
                 [Field("into", "Into", targets[0].slug,
                        choices=tuple(e.slug for e in targets))],
                 "Into its own environment, or into another environment of the site (its "
                 "URLs are rewritten to that environment's). The next step says exactly what "
                 "happens.", lambda values: self._confirm_restore(
                     choice, next(e for e in targets if e.slug == values["into"])))

    def _confirm_restore(self, choice: RestoreChoice, target: EnvironmentRecord) -> None:
        backup, source = choice.backup, choice.source
        into = choice.label(target)
        lines = [
            f"backup {backup.id[:8]} of {choice.label(source)}: {backup.backup_scope}, taken "
            f"{render.stamp(backup.created_at).plain}, {render.size(backup.size_bytes).plain}"
            f", SHA-256 {(backup.checksum or '?')[:12]}…",
            f"into {into} · {target.preview_url}: its {REPLACED[backup.backup_scope]} "
            "replaced by the backup's",
            "first the backup's SHA-256 is checked: if it does not match, nothing is touched",
            f"then a full pre-restore backup of {into} is taken: the way back to how it is "
            "now",
        ]
        if target.id != backup.environment_id:
            lines.append(f"URLs of {choice.label(source)} in the backup are rewritten to "
                         f"{into}'s")
        lines.append("health check after the swap; if it fails, the tables and files go "
                     "back at once")
        self.confirm(f"Restore into {into}?", lines, lambda: self._restore(choice, target),
                     danger=target.environment_type == "production")

    @in_worker("action")
    def _restore(self, choice: RestoreChoice, target: EnvironmentRecord) -> None:
        job = self.core.backups.restore(self.token, choice.backup.id,
                                        site_ref=choice.site.id, target_env=target.id)
        pre = job.payload.get("pre_restore_backup_id", "")
        self.tell(f"restoring backup {choice.backup.id[:8]} into {choice.label(target)}: "
                  f"{job.job_type} job {job.id[:8]} queued; pre-restore backup {pre[:8]} "
                  "(see Jobs)")

    # -- drills, cleanup --------------------------------------------------------------------

    @in_worker("action")
    def verify(self, backup_id: str) -> None:
        job = self.core.backups.verify(self.token, backup_id)
        self.tell(f"restore drill of backup {backup_id[:8]}: {job.job_type} job {job.id[:8]} "
                  "queued — restored into a throwaway environment, health-checked, deleted")

    def cleanup(self) -> None:
        self.confirm("Clean up expired backups?", [
            "backups past their keep-until date become expired",
            "their objects are deleted from the storage bucket",
            "backups still within retention are kept; the scheduler runs this daily"],
            self._cleanup)

    @in_worker("action")
    def _cleanup(self) -> None:
        job = self.core.backups.cleanup(self.token)
        self.tell(f"backup cleanup: {job.job_type} job {job.id[:8]} queued")

    # -- from the palette: which backup -----------------------------------------------------

    @in_worker("env-load")
    def pick(self, site_id: str, env_id: str, verb: str) -> None:
        """``verb`` is ``restore`` or ``verify``: choose a completed backup, then do it."""
        token = self.token
        target = self.core.environments.get(token, site_id, env_id)
        label = f"{self.core.sites.get(token, site_id).slug}/{target.slug}"
        backups = [b for b in self.core.backups.list(token, site_id, env_id)
                   if b.status == "completed"]
        self.ctx.call_from_thread(self._ask_pick, site_id, label, backups, verb)

    def _ask_pick(self, site_id: str, label: str, backups: list[BackupRecord],
                  verb: str) -> None:
        if not backups:
            self.refuse(f"{label} has no completed backup to {verb}")
            return
        now = self.core.rt.clock.now()
        options = [(b.id, Text.assemble(
            Text(b.id[:8]), "  ", render.stamp(b.created_at), "  ",
            Text(f"{b.backup_scope:<5}"), "  ", render.size(b.size_bytes), "  verified ",
            render.verdict(b.verify_result, b.verified_at, now))) for b in backups[:50]]

        def chosen(backup_id: str | None) -> None:
            if backup_id and verb == "restore":
                self.restore(site_id, backup_id)
            elif backup_id:
                self.verify(backup_id)

        self.ctx.push_screen(PickScreen(f"Which backup of {label} to {verb}?", options),
                             chosen)
