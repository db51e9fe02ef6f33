"""Backups from the console: take one, restore one into its environment or another of the
site, run a restore drill, clean up expired ones, test the storage.

Mixed into :class:`PressluftApp` beside :class:`~pressluft_tui.env_actions.
EnvironmentActions` (whose ``_load`` and ``Target`` it uses). A restore replaces an
environment's data, so it always asks first and says which pre-restore backup is the way
back; taking a backup or a drill changes no environment and does not ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work

from pressluft_core.errors import NotFoundError
from pressluft_core.records import BackupRecord, EnvironmentRecord, SiteRecord
from pressluft_tui import render
from pressluft_tui.screens.confirm import ConfirmScreen
from pressluft_tui.screens.form import Field, FormScreen
from pressluft_tui.screens.pick import PickScreen

if TYPE_CHECKING:
    from pressluft_tui.env_actions import EnvironmentActions as _Base
    from pressluft_tui.env_actions import Target
else:
    _Base = object

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


class BackupActions(_Base):
    """Needs ``core``, ``token``, ``tell`` and ``_load`` (from the other mixins)."""

    # -- create ---------------------------------------------------------------------------

    def create_backup(self, site_id: str, env_id: str) -> None:
        self._load(site_id, env_id, self._ask_backup)

    def _ask_backup(self, target: Target) -> None:
        def submitted(values: dict[str, str] | None) -> None:
            if values:
                self._create_backup(target, values["scope"])

        self.push_screen(FormScreen(f"Back up {target.label}", [
            Field("scope", "Scope", "full", choices=("full", "db", "files"))], SCOPE_NOTE),
            submitted)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _create_backup(self, target: Target, scope: str) -> None:
        job = self.core.backups.create(self.token or "", target.site.id, target.env.id, scope)
        self.tell(f"backing up {target.label} ({scope}): {job.job_type} job {job.id[:8]} "
                  "queued (see Jobs)")

    # -- restore --------------------------------------------------------------------------

    def restore_backup(self, site_id: str, backup_id: str) -> None:
        self._load_restore(site_id, backup_id)

    @work(thread=True, exclusive=True, group="env-load", exit_on_error=False)
    def _load_restore(self, site_id: str, backup_id: str) -> None:
        token = self.token or ""
        backup = next((b for b in self.core.backups.list(token, site_id) if b.id == backup_id),
                      None)
        if backup is None:
            raise NotFoundError(f"backup {backup_id[:8]} is no longer there")
        choice = RestoreChoice(self.core.sites.get(token, site_id), backup,
                               self.core.environments.list(token, site_id))
        self.call_from_thread(self._ask_restore_target, choice)

    def _ask_restore_target(self, choice: RestoreChoice) -> None:
        backup, targets = choice.backup, choice.targets
        refusal = None
        if backup.status != "completed":
            refusal = (f"backup {backup.id[:8]} is {backup.status}: only completed backups "
                       "can be restored")
        elif not targets:
            refusal = f"{choice.site.slug} has no active environment to restore into"
        if refusal:  # never ask about a restore the core would refuse
            self.notify(f"{refusal}; nothing was done", title="Refused", severity="error",
                        markup=False)
            return
        if len(targets) == 1:
            self._confirm_restore(choice, targets[0])
            return

        def submitted(values: dict[str, str] | None) -> None:
            if values:
                self._confirm_restore(choice, next(e for e in targets
                                                   if e.slug == values["into"]))

        self.push_screen(FormScreen(
            f"Restore backup {backup.id[:8]} of {choice.label(choice.source)}",
            [Field("into", "Into", targets[0].slug, choices=tuple(e.slug for e in targets))],
            "Into its own environment, or into another environment of the site (its URLs "
            "are rewritten to that environment's). The next step says exactly what "
            "happens."), submitted)

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

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._restore(choice, target)

        self.push_screen(ConfirmScreen(f"Restore into {into}?", lines,
                                       danger=target.environment_type == "production"),
                         decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _restore(self, choice: RestoreChoice, target: EnvironmentRecord) -> None:
        job = self.core.backups.restore(self.token or "", choice.backup.id,
                                        site_ref=choice.site.id, target_env=target.id)
        pre = job.payload.get("pre_restore_backup_id", "")
        self.tell(f"restoring backup {choice.backup.id[:8]} into {choice.label(target)}: "
                  f"{job.job_type} job {job.id[:8]} queued; pre-restore backup {pre[:8]} "
                  "(see Jobs)")

    # -- drills, cleanup, storage -----------------------------------------------------------

    def verify_backup(self, backup_id: str) -> None:
        self._verify(backup_id)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _verify(self, backup_id: str) -> None:
        job = self.core.backups.verify(self.token or "", backup_id)
        self.tell(f"restore drill of backup {backup_id[:8]}: {job.job_type} job {job.id[:8]} "
                  "queued — restored into a throwaway environment, health-checked, deleted")

    def cleanup_backups(self) -> None:
        lines = ["backups past their keep-until date become expired",
                 "their objects are deleted from the storage bucket",
                 "backups still within retention are kept; the scheduler runs this daily"]

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._cleanup()

        self.push_screen(ConfirmScreen("Clean up expired backups?", lines), decided)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _cleanup(self) -> None:
        job = self.core.backups.cleanup(self.token or "")
        self.tell(f"backup cleanup: {job.job_type} job {job.id[:8]} queued")

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def test_storage(self) -> None:
        """A probe object written, read and deleted; a failure's sentence reaches the app's
        handler like every other refusal."""
        self.tell("testing the backup storage …")
        sentence = self.core.backups.test_storage(self.token or "")
        self.call_from_thread(self.notify, sentence, title="Storage works", markup=False)

    # -- from the palette: which backup ---------------------------------------------------

    def pick_backup(self, site_id: str, env_id: str, verb: str) -> None:
        """``verb`` is ``restore`` or ``verify``: choose a completed backup, then do it."""
        self._load_backups(site_id, env_id, verb)

    @work(thread=True, exclusive=True, group="env-load", exit_on_error=False)
    def _load_backups(self, site_id: str, env_id: str, verb: str) -> None:
        token = self.token or ""
        target = self.core.environments.get(token, site_id, env_id)
        label = f"{self.core.sites.get(token, site_id).slug}/{target.slug}"
        backups = [b for b in self.core.backups.list(token, site_id, env_id)
                   if b.status == "completed"]
        self.call_from_thread(self._ask_pick, site_id, label, backups, verb)

    def _ask_pick(self, site_id: str, label: str, backups: list[BackupRecord],
                  verb: str) -> None:
        if not backups:
            self.notify(f"{label} has no completed backup to {verb}; nothing was done",
                        title="Refused", severity="error", markup=False)
            return
        now = self.core.rt.clock.now()
        options = [(b.id, Text.assemble(
            Text(b.id[:8]), "  ", render.stamp(b.created_at), "  ",
            Text(f"{b.backup_scope:<5}"), "  ", render.size(b.size_bytes), "  verified ",
            render.verdict(b.verify_result, b.verified_at, now))) for b in backups[:50]]

        def chosen(backup_id: str | None) -> None:
            if backup_id and verb == "restore":
                self.restore_backup(site_id, backup_id)
            elif backup_id:
                self.verify_backup(backup_id)

        self.push_screen(PickScreen(f"Which backup of {label} to {verb}?", options), chosen)
