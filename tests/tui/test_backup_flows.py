"""Pilot tests for backups in the console: taking one from the Backups tab, restoring one
(into its own or another environment), restore drills, and the storage test."""

from __future__ import annotations

from textual.widgets import TabbedContent

from pressluft_core.models import Backup, Environment
from tests.tui.conftest import settle
from tests.tui.test_flows import _open_environment, wait_for


async def _backups_table(pilot) -> None:  # type: ignore[no-untyped-def]
    """acme production's Backups tab, its table focused (newest backup selected)."""
    from pressluft_tui.widgets.backups_table import BackupsTable

    await _open_environment(pilot)
    pilot.app.screen.query_one(TabbedContent).active = "tab-backups"
    await settle(pilot)
    pilot.app.screen.query_one(BackupsTable).focus_table()
    await settle(pilot)


def _notified(app, text: str) -> bool:  # type: ignore[no-untyped-def]
    return any(text in n.message for n in app._notifications)


async def test_b_in_the_backups_tab_backs_up_instead_of_rolling_back(with_storage, make_app):
    from pressluft_tui.screens.form import FormScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        app.screen.query_one(TabbedContent).active = "tab-backups"
        await settle(pilot)
        await pilot.press("b")  # the tab bar has the focus: b still backs up here
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("right", "enter")  # scope: db; submits
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="backup_create")))
        job = core.jobs.list(app.token, job_type="backup_create")[0]
        backup = Backup.get_by_id(job.payload["backup_id"])
        production = core.environments.get(app.token, "acme", "production")
        assert (backup.environment_id, backup.backup_scope, backup.status) == (
            production.id, "db", "pending")
        assert not core.jobs.list(app.token, job_type="release_rollback")
        assert job.environment_id == production.id


async def test_restore_into_staging_asks_then_queues_env_restore(with_storage, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.form import FormScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _backups_table(pilot)
        newest = core.backups.list(app.token, "acme", "production")[0]
        await pilot.press("r")  # on the backups table: restore, not refresh
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("right", "enter")  # into: staging
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = " ".join(str(s.render()) for s in app.screen.query(".confirm-line"))
        assert newest.id[:8] in text and "into acme/staging" in text
        assert "pre-restore backup of acme/staging" in text and "rewritten" in text
        assert not app.screen.has_class("danger")  # staging, not production
        assert not core.jobs.list(app.token, job_type="env_restore")  # asked first

        await pilot.press("y")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="env_restore")))
        assert isinstance(app.screen, EnvironmentScreen)
        job = core.jobs.list(app.token, job_type="env_restore")[0]
        staging = Environment.get(Environment.slug == "staging")
        assert job.environment_id == staging.id
        assert job.payload["backup_id"] == newest.id
        pre = Backup.get_by_id(job.payload["pre_restore_backup_id"])
        assert (pre.environment_id, pre.backup_scope, pre.status) == (staging.id, "full",
                                                                      "pending")


async def test_restore_into_production_is_a_danger_and_n_queues_nothing(with_storage,
                                                                         make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.form import FormScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _backups_table(pilot)
        await pilot.press("r")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("enter")  # into: production, its own environment
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.has_class("danger")
        text = " ".join(str(s.render()) for s in app.screen.query(".confirm-line"))
        assert "pre-restore backup of acme/production" in text and "rewritten" not in text
        await pilot.press("n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentScreen))
        await settle(pilot)
        assert not core.jobs.list(app.token, job_type="env_restore")


async def test_a_failed_backup_is_refused_before_asking(with_storage, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.form import FormScreen

    app = make_app(with_storage)
    async with app.run_test(size=(140, 40)) as pilot:
        await _backups_table(pilot)
        await pilot.press("down", "down", "down", "r")  # the failed one
        assert await wait_for(pilot, lambda: _notified(app, "only completed backups"))
        assert not isinstance(app.screen, ConfirmScreen | FormScreen)


async def test_v_queues_a_restore_drill_of_the_selected_backup(with_storage, make_app):
    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _backups_table(pilot)
        await pilot.press("down", "v")  # the database backup before an update
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="backup_verify")))
        job = core.jobs.list(app.token, job_type="backup_verify")[0]
        assert job.payload == {"backup_id": core.backups.list(app.token, "acme",
                                                              "production")[1].id}


async def test_storage_test_from_settings_says_what_is_wrong(seeded, make_app):
    from pressluft_tui.screens.settings import SettingsScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await pilot.press("t")  # no bucket set in the seed
        assert await wait_for(pilot, lambda: _notified(app, "storage is not configured"))
        refusal = next(n for n in app._notifications if "not configured" in n.message)
        assert refusal.title == "Refused" and "s3_bucket" in refusal.message


async def test_a_drill_needing_a_certificate_it_cannot_get_is_refused_before_queueing(
        with_storage, make_app):
    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        core.settings.set(app.token, "preview_domain", "preview.example")  # no dns01_provider
        await _backups_table(pilot)
        await pilot.press("down", "v")
        assert await wait_for(pilot, lambda: _notified(app, "dns01_provider"))
        assert not core.jobs.list(app.token, job_type="backup_verify")
