"""Pilot tests for domains and site import in the console: a adds a domain, x in the
Domains tab removes one only after its host name is typed, i imports a site."""

from __future__ import annotations

from textual.widgets import TabbedContent

from tests.tui.conftest import open_form, settle, submit_form
from tests.tui.test_flows import _open_environment, typed, wait_for


async def _domains_tab(pilot) -> None:  # type: ignore[no-untyped-def]
    """acme production's Domains tab, its table focused (shop.acme.example selected)."""
    from pressluft_tui.widgets.domains_table import DomainsTable

    await _open_environment(pilot)
    pilot.app.screen.query_one(TabbedContent).active = "tab-domains"
    await settle(pilot)
    pilot.app.screen.query_one(DomainsTable).focus_table()
    await settle(pilot)


async def test_a_adds_a_domain_and_queues_domain_add(seeded, make_app):
    from pressluft_tui.screens.form import FormScreen

    core = seeded
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _domains_tab(pilot)
        await pilot.press("a")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press(*typed("blog.acme.example"), "enter", "enter")  # primary: no
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="domain_add")))
        job = core.jobs.list(app.token, job_type="domain_add")[0]
        production = core.environments.get(app.token, "acme", "production")
        assert job.environment_id == production.id
        assert job.payload["hostname"] == "blog.acme.example"
        assert job.payload["primary"] is False


async def test_a_refused_host_name_stays_in_the_form_even_before_a_confirmation(
        seeded, make_app):
    """An IP address as a plain domain, then a name under nothing but one label as
    production's new primary: each refusal is under the host name, nothing queued, no
    confirmation; a good name as primary reaches production's confirmation."""
    from pressluft_tui.screens.confirm import ConfirmScreen

    core = seeded
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _domains_tab(pilot)
        form = await open_form(pilot, "a")
        error = form.query_one("#error-hostname")
        await submit_form(pilot, form, hostname="192.0.2.1")
        assert await wait_for(pilot, lambda: "IP address" in str(error.render()))
        await submit_form(pilot, form, keys=("right", "enter"),  # primary, on production
                          hostname="localhost")
        assert await wait_for(pilot, lambda: "fully qualified" in str(error.render()))
        assert app.screen is form and not core.jobs.list(app.token, job_type="domain_add")
        await submit_form(pilot, form, hostname="new.acme.example")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert not core.jobs.list(app.token, job_type="domain_add")


async def test_x_in_the_domains_tab_removes_only_after_the_host_name_is_typed(seeded,
                                                                              make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.environment import EnvironmentScreen

    core = seeded
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _domains_tab(pilot)
        await pilot.press("down", "x")  # www.acme.example, not environment delete
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.has_class("danger")
        await pilot.press("y", *typed("acme"), "enter")  # neither y nor a wrong word
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert not core.jobs.list(app.token, job_type="domain_remove")
        assert not core.jobs.list(app.token, job_type="env_delete")

        await pilot.press(*typed("www.acme.example"), "enter")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="domain_remove")))
        assert isinstance(app.screen, EnvironmentScreen)
        job = core.jobs.list(app.token, job_type="domain_remove")[0]
        assert job.payload["hostname"] == "www.acme.example"


async def test_i_imports_a_site_and_queues_site_import(seeded, make_app):
    from pressluft_tui.screens.form import FormScreen

    core = seeded
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press(*typed("Shop Import"), "enter", *typed("shop-import"), "enter",
                          *typed("https://example.net/export.tar.zst"), "enter",
                          "right", "enter")  # preset: commerce-protect
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="site_import")))
        job = core.jobs.list(app.token, job_type="site_import")[0]
        site = core.sites.get(app.token, "shop-import")
        assert job.site_id == site.id and site.name == "Shop Import"
        assert job.payload["source"] == "https://example.net/export.tar.zst"
        production = core.environments.get(app.token, site.id, job.environment_id)
        assert production.promotion_preset == "commerce-protect"


async def test_palette_domain_and_import_commands(seeded, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from tests.tui.test_palette_flows import _palette_titles

    core = seeded
    app = make_app(core)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        titles = await _palette_titles(pilot)
        assert {"domain: add… acme/production",
                "domain: remove… shop.acme.example (acme/production)",
                "domain: remove… www.acme.example (acme/production)",
                "domain: make primary… www.acme.example (acme/production)"} <= titles
        # the primary one cannot be made primary again
        assert "domain: make primary… shop.acme.example (acme/production)" not in titles
        await pilot.press("escape")
        await settle(pilot)
        assert "site: import…" in await _palette_titles(pilot, "site: import")
        await pilot.press("escape")
        await settle(pilot)
        await _palette_titles(pilot, "make primary www")
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.has_class("danger")  # production's URLs change
        assert not core.jobs.list(app.token, job_type="domain_add")
        await pilot.press("y")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="domain_add")))
        job = core.jobs.list(app.token, job_type="domain_add")[0]
        assert (job.payload["hostname"], job.payload["primary"]) == ("www.acme.example",
                                                                     True)
