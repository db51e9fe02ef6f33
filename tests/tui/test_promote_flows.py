"""Pilot tests for promotion: ``p`` queues a drift check and waits for it (the test plays
the worker that runs it), shows the plan, and queues ``env_promote`` only after the
confirmation — the site slug typed when production drifted."""

from __future__ import annotations

import pytest

from pressluft_core.models import Environment, Job
from tests.tui.conftest import settle
from tests.tui.seed import DRIFTED_REPORT, record_drift
from tests.tui.test_flows import _open_environment, typed, wait_for


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    from pressluft_tui.controllers import promotion

    monkeypatch.setattr(promotion, "POLL_SECONDS", 0.02)


async def _run_drift_check(pilot, core, *, checked_at: str | None = None,  # type: ignore[no-untyped-def]
                           ) -> str:
    """Wait for the console's drift_check job and do what the worker would: record a
    drifted check and end the job. Returns the check's id."""
    token = pilot.app.token
    assert await wait_for(pilot, lambda: bool(core.jobs.list(token, job_type="drift_check")))
    job = core.jobs.list(token, job_type="drift_check")[0]
    staging = Environment.get(Environment.slug == "staging")
    assert job.environment_id == staging.id
    # (not claimed through the queue: the seed keeps the node busy with a running job)
    check_id = record_drift(staging.id, checked_at or core.rt.now(), DRIFTED_REPORT)
    _end(core, job.id, "succeeded")
    return check_id


def _end(core, job_id: str, status: str) -> None:  # type: ignore[no-untyped-def]
    Job.update(status=status, attempt_count=1, started_at=core.rt.now(),
               finished_at=core.rt.now()).where(Job.id == job_id).execute()


async def test_promote_checks_drift_shows_the_plan_and_needs_the_typed_slug(with_storage,
                                                                           make_app):
    from pressluft_tui.screens.jobs import JobsScreen
    from pressluft_tui.screens.promote import PromoteScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        await pilot.press("p")
        check_id = await _run_drift_check(pilot, core)
        assert await wait_for(pilot, lambda: isinstance(app.screen, PromoteScreen))
        await settle(pilot)
        plan = str(app.screen.query_one("#promote-plan Static").render())
        assert "drifted" in plan and check_id[:8] in plan
        assert "NOT protected wp_options" in plan and "wp_wc_orders" in plan
        assert "wp-content/uploads" in plan and "a full backup of production" in plan
        assert app.screen.typed and app.screen.has_class("danger")

        await pilot.press("y")  # not enough when production drifted
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press(*typed("staging"), "enter")  # the site's slug, not the env's
        await settle(pilot)
        assert isinstance(app.screen, PromoteScreen)
        assert not core.jobs.list(app.token, job_type="env_promote")

        await pilot.press(*typed("acme"), "enter")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="env_promote")))
        job = core.jobs.list(app.token, job_type="env_promote")[0]
        staging = Environment.get(Environment.slug == "staging")
        assert job.environment_id == core.environments.get(app.token, "acme",
                                                           "production").id
        assert job.payload["source_environment_id"] == staging.id
        assert job.payload["drift_check_id"] == check_id and job.payload["override"] is True
        assert "backup_id" in job.payload  # no production backup newer than the check
        # …and the console follows it live
        assert await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        await settle(pilot)
        table = app.screen.query_one("#jobs-table")
        assert table.selected_key == job.id


async def test_a_stale_drift_check_blocks_the_promotion(with_storage, make_app):
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.promote import PromoteScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        await pilot.press("p")
        await _run_drift_check(pilot, core, checked_at="2026-03-01T11:30:00Z")
        assert await wait_for(pilot, lambda: isinstance(app.screen, PromoteScreen))
        await settle(pilot)
        blocked = str(app.screen.query_one("#promote-blocked").render())
        assert "min old" in blocked and "Nothing can be promoted" in blocked
        assert not app.screen.query("#confirm-word")  # nothing to type
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, PromoteScreen)
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentScreen))
        assert not core.jobs.list(app.token, job_type="env_promote")


async def test_a_failed_drift_check_stops_the_promotion(with_storage, make_app):
    from pressluft_tui.screens.promote import PromoteScreen

    core = with_storage
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        await pilot.press("p")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="drift_check")))
        job = core.jobs.list(app.token, job_type="drift_check")[0]
        _end(core, job.id, "failed")
        assert await wait_for(pilot, lambda: any(
            "nothing was promoted" in n.message for n in app._notifications))
        assert not isinstance(app.screen, PromoteScreen)
        assert not core.jobs.list(app.token, job_type="env_promote")
