"""Pilot tests for updates, deleting an environment and its backup schedule."""

from __future__ import annotations

from pressluft_core.models import Environment
from tests.tui.conftest import settle
from tests.tui.test_flows import _open_environment, typed, wait_for


def _lines(app) -> str:  # type: ignore[no-untyped-def]
    return " ".join(str(s.render()) for s in app.screen.query(".confirm-line"))


async def test_production_update_refused_for_7_days_then_overridden(with_storage, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.form import FormScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        await pilot.press("u")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("right", "right", "enter")  # scope: plugins; submits
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "the plugins" in _lines(app) and app.screen.has_class("danger")
        first = app.screen
        await pilot.press("y")
        # the core refuses (never updated elsewhere): the override is offered, typed
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                              and app.screen is not first)
        assert "7 days" in _lines(app) and "override" in _lines(app)
        assert not core.jobs.list(app.token, job_type="env_update")
        await pilot.press("y")  # a typed confirmation: y is only a letter in the field
        await pilot.press(*typed("blog-berlin"), "enter")  # not this site
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert not core.jobs.list(app.token, job_type="env_update")
        await pilot.press(*typed("acme"), "enter")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="env_update")))
        assert isinstance(app.screen, EnvironmentScreen)
        job = core.jobs.list(app.token, job_type="env_update")[0]
        assert job.environment_id == core.environments.get(app.token, "acme",
                                                           "production").id
        assert job.payload["scope"] == "plugins" and not job.payload["packages"]
        audited = [e for e in core.audit.list(app.token) if e.action == "env.update"]
        assert sorted(e.result.split(":")[0] for e in audited) == ["ok", "refused"]


async def test_staging_update_does_not_ask(with_storage, make_app):
    from pressluft_tui.screens.form import FormScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        await pilot.press("u")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("enter")  # scope: all
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="env_update")))
        job = core.jobs.list(app.token, job_type="env_update")[0]
        assert job.payload["scope"] == "all"
        assert job.environment_id == Environment.get(Environment.slug == "staging").id


async def test_delete_needs_the_environment_slug_typed(with_storage, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.form import FormScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        await pilot.press("x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("enter")  # backup first: yes
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "a full backup first" in _lines(app)
        await pilot.press(*typed("acme"), "enter")  # the site's slug is not enough here
        await settle(pilot)
        assert not core.jobs.list(app.token, job_type="env_delete")
        await pilot.press(*typed("staging"), "enter")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="env_delete")))
        job = core.jobs.list(app.token, job_type="env_delete")[0]
        assert job.environment_id == Environment.get(Environment.slug == "staging").id
        assert "backup_id" in job.payload


async def test_production_has_no_delete_promote_or_drift_keys(seeded, make_app):
    from pressluft_tui.screens.environment import EnvironmentScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        keys = set(app.screen.active_bindings)
        assert {"u", "b"} <= keys and not {"x", "p", "k"} & keys
        await pilot.press("x", "p", "k")
        await settle(pilot)
        assert isinstance(app.screen, EnvironmentScreen)  # nothing asked, nothing queued
        assert not [j for j in seeded.jobs.list(app.token)
                    if j.job_type in ("env_delete", "drift_check", "env_promote")]


async def test_backup_schedule_chosen_for_staging(seeded, make_app):
    from pressluft_tui.screens.form import FormScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        await pilot.press("s")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("right", "enter")  # default → daily
        assert await wait_for(pilot, lambda: Environment.get(
            Environment.slug == "staging").backup_schedule == "daily")
        assert await wait_for(pilot, lambda: "daily (set for this environment"
                              in str(app.screen.query_one("#env-overview").render()))


async def test_regenerate_preview_url_asks_then_queues(seeded, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.environment import EnvironmentScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        # Nothing changed in the settings: nothing to ask, nothing queued.
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, EnvironmentScreen)
        seeded.settings.set(app.token, "preview_domain", "preview.example")
        seeded.settings.set(app.token, "dns01_provider", "webhook")
        env = Environment.get(Environment.slug == "staging")
        await pilot.press("g")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert f"to https://{env.id[:8]}.preview.example" in _lines(app)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: [
            j for j in seeded.jobs.list(app.token) if j.job_type == "env_preview_url"])
        (job,) = [j for j in seeded.jobs.list(app.token) if j.job_type == "env_preview_url"]
        assert job.environment_id == env.id
        assert job.payload["preview_url"] == f"https://{env.id[:8]}.preview.example"
