"""Pilot tests for the console's flows: first run, login, live jobs, hostile names."""

from __future__ import annotations

import asyncio

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, Log

from pressluft_core.jobs import queue
from pressluft_core.jobs.logs import log_path
from pressluft_core.models import Site
from pressluft_tui.screens.first_run import FirstRunScreen
from pressluft_tui.screens.form import FormScreen
from pressluft_tui.screens.jobs import JobsScreen
from pressluft_tui.screens.local_node import LocalNodeScreen
from pressluft_tui.screens.login import LoginScreen
from pressluft_tui.screens.sites import SitesScreen
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.tui.conftest import open_form, settle, submit_form, wait_for


def typed(text: str) -> list[str]:
    """Key names for typing ``text`` with Pilot (space has a name of its own)."""
    return ["space" if char == " " else char for char in text]



async def test_first_run_from_empty_database_to_sites(empty, make_app):
    app = make_app(empty)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, FirstRunScreen)
        await pilot.press(*typed("ops@agency.example"), "enter", *typed("Olga Ops"), "enter")
        await pilot.press(*typed("a long passphrase"), "enter",
                          *typed("a long passphrase"), "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, LocalNodeScreen))
        for field, value in (("name", "local"), ("public_ip", "192.0.2.7")):
            app.screen.query_one(f"#node-{field}", Input).value = value
        app.screen.query_one("#node-public_ip", Input).focus()
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SitesScreen))
        await settle(pilot)
        nodes = empty.nodes.list(app.token)
        assert [(n.name, n.is_local, n.public_ip) for n in nodes] == [
            ("local", True, "192.0.2.7")]
        assert empty.jobs.list(app.token, job_type="node_check")  # the check was queued
        assert empty.rt.paths.cli_session_file.exists()  # the next start skips login


async def test_first_run_can_skip_the_local_node(empty, make_app):
    app = make_app(empty)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press(*typed("ops@agency.example"), "enter", *typed("Olga"), "enter")
        await pilot.press(*typed("a long passphrase"), "enter",
                          *typed("a long passphrase"), "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, LocalNodeScreen))
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SitesScreen))
        assert empty.nodes.list(app.token) == []


async def test_login_refused_with_wrong_password_then_accepted(seeded, make_app):
    seeded.rt.paths.cli_session_file.unlink()
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        await pilot.press(*typed(ADMIN_EMAIL), "enter", *typed("not the password"), "enter")
        await settle(pilot)
        error = app.screen.query_one("#login-error")
        assert "wrong email or password" in str(error.render())
        assert isinstance(app.screen, LoginScreen) and app.token is None
        await pilot.press(*typed(ADMIN_PASSWORD), "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SitesScreen))


async def test_log_out_from_the_palette_revokes_the_session(seeded, make_app):
    """session: log out — back to the login screen from deep in the stack, the session
    revoked and its file gone (the next start asks again); logging in again works."""
    from pressluft_core.errors import AuthError
    from pressluft_tui.screens.environment import EnvironmentScreen
    from tests.tui.test_palette_flows import _palette_titles

    app = make_app(seeded)
    async with app.run_test(size=(120, 36)) as pilot:
        await _open_environment(pilot)
        assert isinstance(app.screen, EnvironmentScreen)
        token = app.token
        await _palette_titles(pilot, "session: log out")
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        assert app.token is None and len(app.screen_stack) == 2
        assert not seeded.rt.paths.cli_session_file.exists()
        with pytest.raises(AuthError):
            seeded.auth.require(token)
        reader, _ = seeded.auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert "auth.logout" in {e.action for e in seeded.audit.list(reader, limit=5)}
        await pilot.press(*typed(ADMIN_EMAIL), "enter", *typed(ADMIN_PASSWORD), "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SitesScreen))
        assert app.token and app.token != token


async def test_job_log_streams_and_site_status_changes_live_cursor_kept(seeded, make_app,
                                                                        monkeypatch):
    """A job started outside the console shows up, its log streams into the log pane,
    and the site's status changes on screen when it ends — cursor on the same row."""
    from pressluft_core.jobs.registry import REGISTRY, JobType, load_handlers

    load_handlers()
    if "site_create" not in REGISTRY:  # the WordPress layer registers the real one
        monkeypatch.setitem(REGISTRY, "site_create", JobType(
            "site_create", steps=(), running_status="deploying", moves_site=True))
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        sites = app.screen.query_one(DataTable)
        await pilot.press("down", "down")  # kanzlei (its site_create is running)
        kanzlei = Site.get(Site.slug == "kanzlei")
        row_key = sites.coordinate_to_cell_key(sites.cursor_coordinate).row_key.value
        assert row_key == kanzlei.id
        running = next(j for j in seeded.jobs.list(app.token, site_id=kanzlei.id)
                       if j.status == "running")

        await pilot.press("j")
        await settle(pilot)
        jobs_screen = app.screen
        assert isinstance(jobs_screen, JobsScreen)
        table = jobs_screen.query_one(DataTable)
        keys = [row.value for row in table.rows]
        table.move_cursor(row=keys.index(running.id))
        await settle(pilot)
        log = jobs_screen.query_one(Log)
        path = log_path(seeded.rt.paths.job_logs_dir, running.id)
        with path.open("a") as handle:
            for number in range(200):
                handle.write(f"2026-03-01T12:02:00Z out  unpacking file {number}\n")
        assert await wait_for(pilot, lambda: "unpacking file 199" in "\n".join(log.lines))

        queue.succeed(seeded.rt, running, "control:4242")  # the job finishes
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: _cell(app, kanzlei.id, 2) == "active")
        cursor = sites.coordinate_to_cell_key(sites.cursor_coordinate).row_key.value
        assert cursor == kanzlei.id


def _cell(app, row_key: str, column: int) -> str:  # type: ignore[no-untyped-def]
    table = app.screen.query_one(DataTable)
    try:
        return table.get_row(row_key)[column].plain
    except Exception:  # the row is not there (yet)
        return ""


async def test_hostile_names_are_shown_literally(seeded, make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        site = Site.get(Site.slug == "x-markup")
        cells = app.screen.query_one(DataTable).get_row(site.id)
        assert isinstance(cells[1], Text)
        assert cells[1].plain == "[bold]x[/] \\[not markup]"
        assert not cells[1].spans  # no style smuggled in through markup
        await asyncio.sleep(0)


async def test_a_failing_job_is_reported_with_its_sentence(seeded, make_app):
    from pressluft_core.db import write_transaction
    from pressluft_core.services.jobs import enqueue

    app = make_app(seeded)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        node = seeded.nodes.get(app.token, "web-2")
        with write_transaction(seeded.db):
            job = enqueue(seeded.rt, "noop", node_id=node.id, payload={})
        claimed = queue.claim_next(seeded.rt, "control:1", only_job_id=job.id)
        queue.fail(seeded.rt, claimed, "control:1", "HOST_KEY_CHANGED",
                   "node web-2 (web2.example.net:22) did not answer with its recorded host "
                   "key: check the fingerprint on the node")
        assert await wait_for(pilot, lambda: any(
            "did not answer" in n.message for n in app._notifications))
        message = next(n.message for n in app._notifications if "did not answer" in n.message)
        assert "HOST_KEY_CHANGED" in message and "Jobs (j)" in message


async def test_node_public_ip_edited_from_the_node_screen(seeded, make_app):
    from pressluft_tui.screens.node import NodeScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("enter")  # the first node: local
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)
        await pilot.press("e")
        await settle(pilot)
        field = app.screen.query_one("#field-public_ip", Input)
        field.value = "198.51.100.4"
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: seeded.nodes.get(app.token, "local").public_ip
                              == "198.51.100.4")


async def _add_node_form(pilot, **values: str) -> FormScreen:  # type: ignore[no-untyped-def]
    """o then n: the Add a node form, filled with ``values`` and submitted."""
    await pilot.press("o")
    await settle(pilot)
    form = await open_form(pilot, "n")
    await submit_form(pilot, form, **values)
    return form


async def test_n_on_the_nodes_screen_registers_a_node_and_checks_it(seeded, make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        await _add_node_form(pilot, name="web-3", hostname="web3.example.net",
                             port="2222", user="deploy", public_ip="203.0.113.40")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="node_check")))
        node = seeded.nodes.get(app.token, "web-3")
        assert (node.hostname, node.ssh_port, node.ssh_user, node.public_ip, node.is_local
                ) == ("web3.example.net", 2222, "deploy", "203.0.113.40", False)
        assert seeded.jobs.list(app.token, job_type="node_check")[0].node_id == node.id


def _refusal(form: FormScreen, field: str) -> str:
    return str(form.query_one(f"#error-{field}").render())


async def test_a_refused_node_keeps_the_form_open_with_its_values(seeded, make_app):
    """A hostile name, then a bad port: each time the form stays open with what was typed,
    says what is wrong and focuses that field; nothing is registered until it is right."""
    app = make_app(seeded)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        before = len(seeded.nodes.list(app.token))
        form = await _add_node_form(pilot, name="web$(reboot)", hostname="web4.example.net",
                                    port="22; reboot")
        assert await wait_for(pilot, lambda: "Refused: name" in _refusal(form, "name"))
        assert app.screen is form and app.focused is form.query_one("#field-name")
        assert form.query_one("#field-hostname", Input).value == "web4.example.net"

        await submit_form(pilot, form, name="web-4")
        assert await wait_for(pilot, lambda: "ssh_port" in _refusal(form, "port"))
        assert not form.query_one("#error-name").has_class("shown")  # that one is fixed
        assert app.focused is form.query_one("#field-port")
        assert len(seeded.nodes.list(app.token)) == before
        assert not seeded.jobs.list(app.token, job_type="node_check")

        await submit_form(pilot, form, port="2022")
        assert await wait_for(pilot, lambda: app.screen is not form)
        assert seeded.nodes.get(app.token, "web-4").ssh_port == 2022
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="node_check")))


async def test_a_refused_site_keeps_the_form_and_nothing_is_created(seeded, make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        sites = len(seeded.sites.list(app.token))
        form = await open_form(pilot, "n")
        await submit_form(pilot, form, name="Shop", slug="../shop")
        assert await wait_for(pilot, lambda: "slug" in _refusal(form, "slug"))
        assert app.focused is form.query_one("#field-slug")
        assert len(seeded.sites.list(app.token)) == sites
        await submit_form(pilot, form, slug="shop-two")
        assert await wait_for(pilot, lambda: app.screen is not form)
        assert seeded.sites.get(app.token, "shop-two").name == "Shop"


async def test_provisioning_a_node_from_the_console_asks_then_queues_the_job(seeded,
                                                                             make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("p")  # the selected node: local
        await settle(pilot)
        assert not seeded.jobs.list(app.token, job_type="node_provision")  # asked first
        await pilot.press("y")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="node_provision")))
        job = seeded.jobs.list(app.token, job_type="node_provision")[0]
        assert job.node_id == seeded.nodes.get(app.token, "local").id


# -- environment actions: clone, deploy, rollback, login ----------------------------------


async def _open_environment(pilot, slug: str = "production") -> None:  # type: ignore[no-untyped-def]
    """From the sites list into acme (the first site) and one of its environments."""
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.site import SiteScreen

    await settle(pilot)
    await pilot.press("enter")
    assert await wait_for(pilot, lambda: isinstance(pilot.app.screen, SiteScreen))
    await settle(pilot)
    rows = ("production", "staging", "try-plugin")  # the order the site screen shows
    await pilot.press(*["down"] * rows.index(slug), "enter")
    assert await wait_for(pilot, lambda: isinstance(pilot.app.screen, EnvironmentScreen))
    await settle(pilot)


async def test_clone_of_production_from_the_site_screen_queues_env_create(seeded, make_app):
    from pressluft_core.models import Environment
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.form import FormScreen
    from pressluft_tui.screens.site import SiteScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # acme; its production row is selected
        assert await wait_for(pilot, lambda: isinstance(app.screen, SiteScreen))
        await settle(pilot)
        await pilot.press("c")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press(*typed("QA Review"), "enter", *typed("qa-review"), "enter")
        await pilot.press("right", "enter")  # type: clone
        await pilot.press("right", "enter")  # quarantine: no
        await pilot.press("space", "enter")  # WP-Cron: on
        await pilot.press(*typed("48"), "enter")  # expires after 48 hours
        await pilot.press("enter")  # node: the source's own; submits
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="env_create")))
        assert not isinstance(app.screen, ConfirmScreen)  # production is only read
        job = seeded.jobs.list(app.token, job_type="env_create")[0]
        production = seeded.environments.get(app.token, "acme", "production")
        assert job.payload == {"source_environment_id": production.id,
                               "quarantine": False, "cron": True}
        clone = Environment.get_by_id(job.environment_id)
        assert (clone.slug, clone.name, clone.environment_type, clone.status) == (
            "qa-review", "QA Review", "clone", "cloning")
        assert clone.expires_at == "2026-03-03T12:01:00Z"  # the seed's clock + 48 h


async def test_a_clone_with_a_bad_expiry_stays_in_its_form_until_corrected(seeded,
                                                                             make_app):
    from pressluft_tui.screens.site import SiteScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SiteScreen))
        await settle(pilot)
        form = await open_form(pilot, "c")
        await submit_form(pilot, form, name="QA", slug="qa", expires="two days")
        assert await wait_for(pilot, lambda: "not a whole number" in _refusal(form,
                                                                              "expires"))
        assert app.screen is form and app.focused is form.query_one("#field-expires")
        assert not seeded.jobs.list(app.token, job_type="env_create")
        await submit_form(pilot, form, expires="48")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="env_create")))
        assert app.screen is not form


async def test_deploy_to_production_asks_first_then_queues_env_deploy(seeded, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.form import FormScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        await pilot.press("d")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press(*typed("https://git.example.net/acme/shop.git"), "enter")
        await pilot.press(*["backspace"] * 4, *typed("v2.2.0"), "enter")  # was "main"
        await pilot.press("enter", "enter", "enter")  # no archive, into, override: submits
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.has_class("danger")
        text = " ".join(str(s.render()) for s in app.screen.query(".confirm-line"))
        assert "v2.2.0" in text and "20260301T114000Z" in text  # where it would go back
        assert not seeded.jobs.list(app.token, job_type="env_deploy")  # asked first

        await pilot.press("y")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="env_deploy")))
        assert isinstance(app.screen, EnvironmentScreen)
        job = seeded.jobs.list(app.token, job_type="env_deploy")[0]
        production = seeded.environments.get(app.token, "acme", "production")
        assert job.environment_id == production.id
        assert job.payload == {"git_url": "https://git.example.net/acme/shop.git",
                               "git_ref": "v2.2.0"}


async def test_a_bad_deploy_source_is_refused_in_the_form_before_any_confirmation(
        seeded, make_app):
    """Nothing given, then a hostile ref: the form stays with the values and names the
    field; only a valid source reaches production's confirmation."""
    from pressluft_tui.screens.confirm import ConfirmScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        form = await open_form(pilot, "d")
        await submit_form(pilot, form, git_ref="")
        assert await wait_for(pilot, lambda: "give either" in str(
            form.query_one("#form-error").render()))  # about no one field
        await submit_form(pilot, form, git_url="https://git.example.net/shop.git",
                          git_ref="main; rm -rf /")
        assert await wait_for(pilot, lambda: "not a branch" in _refusal(form, "git_ref"))
        assert app.screen is form and app.focused is form.query_one("#field-git_ref")
        await submit_form(pilot, form, git_ref="v2")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert not seeded.jobs.list(app.token, job_type="env_deploy")


async def test_deploy_to_production_cancelled_queues_nothing(seeded, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.form import FormScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        await pilot.press("d")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press(*typed("git@git.example.net:acme/shop.git"), "enter", "enter",
                          "enter", "enter", "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentScreen))
        await settle(pilot)
        assert not seeded.jobs.list(app.token, job_type="env_deploy")


async def test_deploy_to_staging_from_an_archive_does_not_ask(seeded, make_app, tmp_path):
    from pressluft_tui.screens.form import FormScreen

    archive = tmp_path / "theme.tar.gz"
    archive.write_bytes(b"not really gzip, but the node checks that")
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")  # the seed gives it a release
        from pressluft_core.models import Environment

        staging = Environment.get(Environment.slug == "staging")
        await pilot.press("d")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await submit_form(pilot, app.screen, archive=str(archive))
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="env_deploy")))
        job = seeded.jobs.list(app.token, job_type="env_deploy")[0]
        assert job.environment_id == staging.id
        assert job.payload["archive_name"] == "theme.tar.gz"


async def test_rollback_of_production_asks_then_queues_release_rollback(seeded, make_app):
    from pressluft_tui.screens.confirm import ConfirmScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        await pilot.press("r")  # refresh, as on every screen: never a rollback
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("b")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert not seeded.jobs.list(app.token, job_type="release_rollback")
        await pilot.press("y")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="release_rollback")))


async def test_rollback_refusal_reaches_the_operator(seeded, make_app):
    """try-plugin has no release: the core refuses and the app's handler says why."""
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "try-plugin")
        await pilot.press("b")
        assert await wait_for(pilot, lambda: any(
            "no release" in n.message for n in app._notifications))
        assert not seeded.jobs.list(app.token, job_type="release_rollback")


async def test_health_check_and_wordpress_login_from_the_keyboard(seeded, make_app):
    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.info import InfoScreen
    from tests.tui.seed import ACME_ADMIN

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        await pilot.press("h")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="health_check")))
        await pilot.press("w")
        assert await wait_for(pilot, lambda: isinstance(app.screen, InfoScreen))
        text = " ".join(str(s.render()) for s in app.screen.query(".info-line"))
        assert ACME_ADMIN["password"] in text and "audit" in text
        reveals = [e for e in seeded.audit.list(app.token) if e.action == "env.login"]
        assert len(reveals) == 1
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentScreen))


async def test_palette_offers_the_environment_commands(seeded, make_app):
    from textual.widgets import TabbedContent

    from pressluft_tui.screens.environment import EnvironmentScreen
    from pressluft_tui.screens.form import FormScreen

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*typed("env: releases acme/production"))
        await settle(pilot, 0.3)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentScreen))
        await settle(pilot)
        assert app.screen.query_one(TabbedContent).active == "tab-releases"

        await pilot.press("ctrl+p")
        await pilot.press(*typed("env: clone… acme/production"))
        await settle(pilot, 0.3)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))


async def test_palette_without_a_query_lists_the_commands_of_this_environment(seeded,
                                                                             make_app):
    from textual.command import CommandList

    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        await pilot.press("ctrl+p")
        await settle(pilot, 0.5)
        options = app.screen.query_one(CommandList)
        titles = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        env_titles = {t.split("\n")[0] for t in titles if t.startswith("env: ")}
        assert {"env: clone… acme/staging", "env: deploy… acme/staging",
                "env: rollback acme/staging", "env: health check acme/staging",
                "env: WordPress login acme/staging", "env: releases acme/staging",
                } <= env_titles
        assert not [t for t in env_titles if "acme/staging" not in t]


async def test_deploy_into_a_theme_and_the_typed_override_for_a_missing_active_theme(
        seeded, make_app):
    """Allowing a release without the active theme takes the site's slug typed: anything
    else is refused in the form; typed right, the job carries it with ``into``."""
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot, "staging")
        form = await open_form(pilot, "d")
        await submit_form(pilot, form, git_url="https://git.example.net/theme.git",
                          into="themes/acme", allow_missing="yes")
        assert await wait_for(pilot, lambda: "type the site's slug" in _refusal(
            form, "allow_missing"))
        assert not seeded.jobs.list(app.token, job_type="env_deploy")
        await submit_form(pilot, form, into="../etc", allow_missing="acme")
        assert await wait_for(pilot, lambda: "is not themes/NAME" in _refusal(form, "into"))
        await submit_form(pilot, form, into="themes/acme")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="env_deploy")))
        job = seeded.jobs.list(app.token, job_type="env_deploy")[0]
        assert job.payload["into"] == "themes/acme" and job.payload["allow_missing"] is True


async def test_e_sets_the_text_the_health_check_expects(seeded, make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        form = await open_form(pilot, "e")
        await submit_form(pilot, form, text="Acme Shop — Home")
        assert await wait_for(pilot, lambda: seeded.environments.get(
            app.token, "acme", "production").health_expected_text == "Acme Shop — Home")


async def test_shift_d_plans_a_deploy_without_switching_anything(seeded, make_app):
    app = make_app(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_environment(pilot)
        form = await open_form(pilot, "D")
        await submit_form(pilot, form, git_url="https://git.example.net/theme.git",
                          into="themes/acme")
        assert await wait_for(pilot, lambda: bool(
            seeded.jobs.list(app.token, job_type="deploy_plan")))
        job = seeded.jobs.list(app.token, job_type="deploy_plan")[0]
        assert job.payload == {"git_url": "https://git.example.net/theme.git",
                               "git_ref": "main", "into": "themes/acme"}
        assert not seeded.jobs.list(app.token, job_type="env_deploy")
