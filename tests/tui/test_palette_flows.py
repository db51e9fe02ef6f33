"""The command palette's backup, storage, update, deletion, drift and promotion commands."""

from __future__ import annotations

from tests.tui.conftest import settle
from tests.tui.test_flows import _open_environment, typed, wait_for


async def _palette_titles(pilot, query: str = "") -> set[str]:  # type: ignore[no-untyped-def]
    from textual.command import CommandList

    await pilot.press("ctrl+p")
    if query:
        await pilot.press(*typed(query))
    await settle(pilot, 0.5)
    options = pilot.app.screen.query_one(CommandList)
    return {str(options.get_option_at_index(i).prompt).split("\n")[0]
            for i in range(options.option_count)}


async def test_palette_lists_what_can_be_done_to_this_environment(seeded, make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        titles = await _palette_titles(pilot)
        assert {"env: update… acme/staging", "env: backup schedule… acme/staging",
                "env: drift check acme/staging", "env: promote… acme/staging",
                "env: delete… acme/staging", "backup: create… acme/staging",
                "backup: restore… acme/staging", "backup: verify… acme/staging"} <= titles
        assert not [t for t in titles if "acme/" in t and "acme/staging" not in t]
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")  # back to the site screen, then production
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        titles = await _palette_titles(pilot, "acme/production")
        assert "env: update… acme/production" in titles
        assert not [t for t in titles if t.startswith(("env: promote", "env: delete",
                                                       "env: drift"))]


async def test_palette_storage_test_and_backup_cleanup(seeded, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        assert "backup: cleanup" in await _palette_titles(pilot)  # on the home screen
        await pilot.press("escape")
        titles = await _palette_titles(pilot, "storage: test")
        assert "storage: test" in titles
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: any(
            "storage is not configured" in n.message for n in app._notifications))

        await _palette_titles(pilot, "backup: cleanup")
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert not seeded.jobs.list(app.token, job_type="backup_cleanup")
        await pilot.press("y")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="backup_cleanup")))


async def test_palette_restore_asks_which_backup_then_where(with_storage, make_app):
    from textual.widgets import OptionList

    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.form import FormScreen
    from pressluft_tui.screens.pick import PickScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await _palette_titles(pilot, "backup: restore… acme/production")
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        await settle(pilot)
        completed = [b for b in core.backups.list(app.token, "acme", "production")
                     if b.status == "completed"]
        options = app.screen.query_one(OptionList)
        assert options.option_count == len(completed) == 4  # failed and expired left out
        await pilot.press("down", "enter")  # the database backup
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("enter")  # into production
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = " ".join(str(s.render()) for s in app.screen.query(".confirm-line"))
        assert completed[1].id[:8] in text and "its database replaced" in text
        await pilot.press("y")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="env_restore")))
        job = core.jobs.list(app.token, job_type="env_restore")[0]
        assert job.payload["backup_id"] == completed[1].id
