"""Settings: edit one (secrets write-only), and test the backup storage they configure."""

from __future__ import annotations

from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller
from pressluft_tui.screens.form import Field


class Settings(Controller):
    def edit_setting(self, key: str) -> None:
        current = self.core.settings.get(self.token, key)
        note = ("Secret: stored encrypted, never shown again. Leave empty to unset."
                if current.secret else "Leave empty to go back to the default.")
        value = "" if current.secret or current.is_default else (current.value or "")

        def save(values: dict[str, str]) -> None:
            result = self.core.settings.set(self.token, key, values["value"] or None)
            self.tell(f"{key} {'saved' if result.is_set else 'unset'}")

        self.submit_form(f"Setting {key}", [Field("value", current.description, value,
                                                  password=current.secret)], note, save)

    @in_worker("action")
    def test_storage(self) -> None:
        """A probe object written, read and deleted; a failure's sentence reaches the app's
        handler like every other refusal."""
        self.tell("testing the backup storage …")
        sentence = self.core.backups.test_storage(self.token)
        self.ctx.call_from_thread(self.ctx.notify, sentence, title="Storage works",
                                  markup=False)
