"""Pilot tests for the certificates screen: c on the home screen lists every certificate
soonest expiry first, x reads their expiry from the nodes now, w gets a node's wildcard
preview certificate (refused, naming the setting, until it can be got), enter opens
where the certificate belongs; the same from the palette and the node screen."""

from __future__ import annotations

from pressluft_core.models import Node
from tests.tui.conftest import settle
from tests.tui.test_flows import wait_for
from tests.tui.test_palette_flows import _palette_titles


def _with_wildcard() -> None:
    """The local node's wildcard expires on 03-10 (the clock: 03-01)."""
    Node.update(preview_cert_name="wildcard.preview.example",
                preview_cert_expires_at="2026-03-10T08:00:00Z",
                preview_cert_checked_at="2026-03-01T03:00:00Z").where(
        Node.name == "local").execute()


async def _certificates_screen(pilot) -> None:  # type: ignore[no-untyped-def]
    """c on the home screen, its rows loaded."""
    from pressluft_tui.screens.certificates import CertificatesScreen

    await settle(pilot)
    await pilot.press("c")
    assert await wait_for(pilot, lambda: isinstance(pilot.app.screen, CertificatesScreen))
    await settle(pilot)


def _keys(app) -> list[str]:  # type: ignore[no-untyped-def]
    from pressluft_tui.widgets.resource_table import ResourceTable

    table = app.screen.query_one(ResourceTable).table
    return [row.key.value for row in table.ordered_rows]


async def test_c_lists_every_certificate_and_x_checks_their_expiry(seeded, make_app):
    from pressluft_tui.screens.environment import EnvironmentScreen

    _with_wildcard()
    core = seeded
    app = make_app(core)
    async with app.run_test(size=(160, 40)) as pilot:
        await _certificates_screen(pilot)
        names = [key.split(":")[-1] for key in _keys(app)]
        assert names == ["wildcard.preview.example", "shop.acme.example",
                         "www.acme.example"]  # soonest first, the failed one last
        assert app.screen.sub_title.startswith("3 certificates · 2 expire within 20 days")

        await pilot.press("x")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="cert_expiry")))

        await pilot.press("down", "enter")  # shop.acme.example: acme production
        assert await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentScreen))
        production = core.environments.get(app.token, "acme", "production")
        assert app.screen.environment_id == production.id


async def test_w_gets_a_wildcard_only_once_the_settings_allow_it(seeded, make_app):
    from pressluft_core.session_store import load_token

    _with_wildcard()
    core = seeded
    app = make_app(core)
    async with app.run_test(size=(160, 40)) as pilot:
        await _certificates_screen(pilot)
        await pilot.press("w")
        assert await wait_for(pilot, lambda: any(
            "preview_domain" in n.message for n in app._notifications))
        assert not core.jobs.list(app.token, job_type="preview_cert")

        token = load_token(core.rt.paths)
        core.settings.set(token, "preview_domain", "preview.example")
        core.settings.set(token, "dns01_provider", "webhook")
        await pilot.press("w")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="preview_cert")))
        (job,) = core.jobs.list(app.token, job_type="preview_cert")
        assert job.node_id == Node.get(Node.preview_cert_name.is_null(False)).id


async def test_palette_and_node_screen_reach_the_certificates(seeded, make_app):
    from pressluft_core.session_store import load_token
    from pressluft_tui.screens.certificates import CertificatesScreen
    from pressluft_tui.screens.node import NodeScreen

    core = seeded
    token = load_token(core.rt.paths)
    core.settings.set(token, "preview_domain", "preview.example")
    core.settings.set(token, "dns01_provider", "webhook")
    node = Node.select().order_by(Node.name).first()
    app = make_app(core)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        titles = await _palette_titles(pilot)
        assert {"go: certificates", "domain: check certificate expiry"} <= titles
        await pilot.press("escape")
        await settle(pilot)
        assert f"node: get preview certificate {node.name}" in await _palette_titles(
            pilot, "node: get preview")
        await pilot.press("escape")
        await settle(pilot)
        await _palette_titles(pilot, "go: certificates")
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CertificatesScreen))

        app.controllers.navigation.open_node(node.id)
        assert await wait_for(pilot, lambda: isinstance(app.screen, NodeScreen))
        await settle(pilot)
        await pilot.press("w")
        assert await wait_for(pilot, lambda: bool(
            core.jobs.list(app.token, job_type="preview_cert")))
