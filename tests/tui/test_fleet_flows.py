"""Pilot tests for the fleet (issue 14): moving an environment, the old copy it leaves,
decommissioning a node, cloning onto another node; each from its key and the palette."""

from __future__ import annotations

from pressluft_core.models import Node
from tests.tui.conftest import settle
from tests.tui.test_flows import _open_environment, typed, wait_for
from tests.tui.test_palette_flows import _palette_titles


def _lines(app) -> str:  # type: ignore[no-untyped-def]
    return " ".join(str(s.render()) for s in app.screen.query(".confirm-line"))


async def test_moving_production_asks_for_its_slug_and_names_the_dns_record(seeded,
                                                                            make_app):
    """blog-berlin's production (on web-2, no custom domains) to the one other active
    node, local."""
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.form import FormScreen
    from pressluft_tui.screens.site import SiteScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")  # blog-berlin
        assert await wait_for(pilot, lambda: isinstance(app.screen, SiteScreen))
        await settle(pilot)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentScreen))
        await settle(pilot)
        await pilot.press("M")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "203.0.113.10" in _lines(app) and "to node local" in _lines(app)
        await pilot.press(*typed("blog-berlin"), "enter")  # the site's slug is not the env's
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert not seeded.jobs.list(app.token, job_type="env_move")
        await pilot.press(*typed("production"), "enter")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="env_move")))
        assert isinstance(app.screen, EnvironmentScreen)
        job = seeded.jobs.list(app.token, job_type="env_move")[0]
        assert job.node_id == Node.get(Node.name == "local").id
        assert job.environment_id == seeded.environments.get(app.token, "blog-berlin",
                                                             "production").id


async def test_moving_an_environment_with_custom_domains_is_refused_naming_them(
        seeded, make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)  # acme production serves shop.acme.example
        await pilot.press("M", "enter")
        await settle(pilot, 0.3)
        await pilot.press(*typed("production"), "enter")
        await settle(pilot, 0.5)
        toasts = " ".join(str(n.message) for n in app._notifications)
        assert "custom domains" in toasts and "shop.acme.example" in toasts
        assert not seeded.jobs.list(app.token, job_type="env_move")


async def test_palette_offers_move_and_the_old_copy_where_there_is_one(seeded, make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        titles = await _palette_titles(pilot, "env: ")
        assert {"env: move to node… acme/production", "env: move to node… acme/staging",
                "env: remove old copy… x-markup/production"} <= titles
        assert "env: remove old copy… acme/production" not in titles
        await pilot.press("escape")
        await settle(pilot)
        titles = await _palette_titles(pilot, "node: decommission")
        assert {"node: decommission web-2", "node: decommission old-box"} <= titles
        assert "node: decommission local" not in titles


async def test_removing_the_old_copy_asks_then_queues_the_cleanup(seeded, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *typed("remove old copy x-markup"))
        await settle(pilot, 0.5)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "local" in _lines(app)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="env_move_cleanup")))
        job = seeded.jobs.list(app.token, job_type="env_move_cleanup")[0]
        assert job.node_id == Node.get(Node.name == "local").id


async def test_decommission_is_typed_and_refused_while_environments_live_there(seeded,
                                                                            make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o", "down", "down", "enter")  # web-2 holds blog-berlin
        await settle(pilot)
        await pilot.press("x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press(*typed("web-2"), "enter")
        await settle(pilot, 0.3)
        assert Node.get(Node.name == "web-2").status == "active"
        await pilot.press("escape")  # back to the nodes
        await settle(pilot)
        await pilot.press("up", "enter")  # old-box holds nothing
        await settle(pilot)
        await pilot.press("x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press(*typed("old-box"), "enter")
        assert await wait_for(pilot, lambda: Node.get(Node.name == "old-box").status
                              == "decommissioned")


async def test_the_clone_form_offers_another_node(seeded, make_app):
    from pressluft_tui.screens.form import FormScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 48)) as pilot:
        await _open_environment(pilot)
        await pilot.press("c")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        screen = app.screen
        screen.query_one("#field-name").value = "Far staging"
        screen.query_one("#field-slug").value = "far"
        screen.query_one("#field-node").focus()
        await pilot.press("right", "enter")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="env_create")))
        env = seeded.environments.get(app.token, "acme", "far")
        assert env.node_id == Node.get(Node.name == "web-2").id
