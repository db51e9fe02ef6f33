"""A snapshot of every screen and modal, with realistic data, at 80x24 and 160x48."""

from __future__ import annotations

import pytest

from pressluft_core.models import Environment, Site
from tests.tui.conftest import SIZES, settle

pytestmark = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")


def keys(*pressed: str):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_first_run(snap_compare, empty, make_app, size):
    assert snap_compare(make_app(empty), terminal_size=size, run_before=keys())


def test_login(snap_compare, seeded, make_app, size):
    seeded.rt.paths.cli_session_file.unlink()
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys())


def test_local_node_step(snap_compare, empty, make_app, size):
    """Step 2 of the first run (the typing of step 1 is a Pilot test)."""
    from pressluft_tui.screens.local_node import LocalNodeScreen

    empty.auth.create_admin("admin@example.com", "Ada", "correct horse battery")
    token, _ = empty.auth.login("admin@example.com", "correct horse battery")
    app = make_app(empty)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.token = token
        await pilot.app.switch_screen(LocalNodeScreen(empty.nodes.public_key(token)))
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_sites(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys())


def test_sites_filtered(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("slash", "b", "l", "o", "g"))


def test_site(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("enter"))


def test_environment_overview(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "enter"))


def test_environment_releases_tab(snap_compare, seeded, make_app, size):
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await keys("enter", "enter")(pilot)
        pilot.app.screen.query_one("#env-tabs").active = "tab-releases"
        await settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=run_before)


def test_environment_backups_empty(snap_compare, seeded, make_app, size):
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await keys("enter", "down", "enter")(pilot)
        pilot.app.screen.query_one("#env-tabs").active = "tab-backups"
        await settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=run_before)


def test_nodes(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("o"))


def test_node(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("o", "enter"))


def test_jobs_with_failed_job_selected(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("j", "down"))


def test_jobs_with_running_log(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("j", "down", "down", "down"))


def test_settings(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("s"))


def test_setting_edit_secret(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("s", *["down"] * 9, "enter"))


def test_audit_log(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("a"))


def test_new_site_form(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("n"))


def test_cancel_confirmation(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("j", "down", "down", "down", "x"))


def test_typed_confirmation(snap_compare, seeded, make_app, size):
    from pressluft_tui.screens.confirm import ConfirmScreen

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.push_screen(ConfirmScreen(
            "Promote staging to production?",
            ["copies 12 tables and the code as a new release",
             "protects wp_posts, wp_comments, wp_woocommerce_orders and uploads",
             "production drifted since the clone: 2 new orders, 1 comment"],
            require_word="acme", danger=True))
        await settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=run_before)


def test_ssh_key_dialog(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("o", "k"))


def test_help_panel(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("question_mark"))


def test_production_stands_out_without_colour(snap_compare, seeded, make_app, size,
                                              monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    Site.update(status="active").execute()
    Environment.update(status="active").execute()
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("enter"))


def test_provision_confirmation(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("o", "enter", "p"))


# -- environment actions (acme production: its release history is in the seed) ---------


def test_clone_form(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "enter", "c"))


def test_deploy_form(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "enter", "d"))


def test_deploy_to_production_confirmation(snap_compare, seeded, make_app, size):
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await keys("enter", "enter", "d")(pilot)
        screen = pilot.app.screen
        screen.query_one("#field-git_url").value = "https://git.example.net/acme/shop.git"
        screen.query_one("#field-git_ref").value = "v2.2.0"
        screen.query_one("#field-archive").focus()
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=run_before)


def test_rollback_production_confirmation(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "enter", "b"))


def test_wordpress_login(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "enter", "w"))


# -- backups, updates, deletion, drift and promotion -------------------------------------


def _env_tab(tab: str, *pressed: str, env_row: int = 0, focus_table: bool = False):  # type: ignore[no-untyped-def]
    """acme's environment on row ``env_row`` of the site screen, on ``tab``."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await keys("enter", *["down"] * env_row, "enter")(pilot)
        pilot.app.screen.show_tab(tab, focus_table=focus_table)
        await settle(pilot)
        await keys(*pressed)(pilot)

    return run_before


def test_environment_backups_tab(snap_compare, seeded, make_app, size):
    """Newest first: verified healthy, never verified, failed, unhealthy drill, expired."""
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=_env_tab("tab-backups", focus_table=True))


def test_restore_confirmation(snap_compare, seeded, make_app, size):
    """The newest production backup restored into staging (chosen with right)."""
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=_env_tab("tab-backups", "r", "right", "enter",
                                            focus_table=True))


def test_update_form(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "enter", "u"))


def test_update_production_override_confirmation(snap_compare, seeded, make_app, size):
    """y on the first confirmation; the core refuses for 7 days; the override is offered."""
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "enter", "u", "enter", "y"))


def test_delete_typed_confirmation(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "down", "enter", "x", "enter"))


def test_environment_drift_tab(snap_compare, seeded, make_app, size):
    """acme staging: production drifted since the clone (orders, a comment, uploads kept;
    wp_options would be overwritten)."""
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=_env_tab("tab-drift", env_row=1))


def test_promote_plan_drifted(snap_compare, seeded, make_app, size):
    """The step after the drift check: plan, report, the site slug to type."""
    from pressluft_tui.controllers.base import Target

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await keys("enter", "down", "enter")(pilot)
        token = pilot.app.token
        target = Target(seeded.sites.get(token, "acme"),
                        seeded.environments.get(token, "acme", "staging"), [])
        plan = seeded.promotion.plan(token, "acme", "staging")
        pilot.app.controllers.promotion.ask_promotion(target, plan)
        await settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=run_before)


# -- domains and import --------------------------------------------------------------------


def test_environment_domains_tab(snap_compare, seeded, make_app, size):
    """acme production: the primary domain (certificate expiring within 20 days, flagged)
    and one whose certificate failed on DNS, with the error."""
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=_env_tab("tab-domains", focus_table=True))


def test_add_domain_form(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=_env_tab("tab-domains", "a"))


def test_remove_domain_typed_confirmation(snap_compare, seeded, make_app, size):
    """x in the Domains tab (not environment delete): the primary domain, its host name to
    type."""
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=_env_tab("tab-domains", "x", focus_table=True))


def test_add_node_form(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("o", "n"))


def test_new_site_form_refused_keeps_the_values(snap_compare, seeded, make_app, size):
    """A slug the core refuses: the form stays open with what was typed, the refusal in
    red under the slug field, which is focused."""
    from textual.widgets import Input

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await keys("n")(pilot)
        form = pilot.app.screen
        form.query_one("#field-name", Input).value = "Shop; rm -rf /"
        form.query_one("#field-slug", Input).value = "../shop"
        form.query_one("#field-preset", Input).focus()
        await pilot.press("enter")
        for _ in range(100):
            if form.query(".form-error.shown"):
                break
            await pilot.pause(0.05)
        await settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=run_before)


def test_import_form(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("i"))


def test_regenerate_preview_url_confirmation(snap_compare, seeded, make_app, size):
    """g on acme production after preview_domain was set: from its sslip.io URL to the
    https one, production's danger styling."""
    from pressluft_core.session_store import load_token

    token = load_token(seeded.rt.paths)
    seeded.settings.set(token, "preview_domain", "preview.example")
    seeded.settings.set(token, "dns01_provider", "webhook")
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("enter", "enter", "g"))


def test_node_preview_certificate_flagged(snap_compare, seeded, make_app, size):
    """The node's wildcard preview certificate expires on 2026-03-10 (the clock: 03-01):
    flagged like a domain's."""
    from pressluft_core.models import Node

    Node.update(preview_cert_name="wildcard.preview.example",
                preview_cert_expires_at="2026-03-10T08:00:00Z",
                preview_cert_checked_at="2026-03-01T03:00:00Z").execute()
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("o", "enter"))


def test_certificates(snap_compare, seeded, make_app, size):
    """c on the home screen: the local node's wildcard (expires 03-10, flagged) and acme's
    domains — production's primary one expiring 03-14 (flagged), staging's healthy one,
    and www's failed one last with its error."""
    from pressluft_core.models import Domain, Node

    Node.update(preview_cert_name="wildcard.preview.example",
                preview_cert_expires_at="2026-03-10T08:00:00Z",
                preview_cert_checked_at="2026-03-01T03:00:00Z").where(
        Node.name == "local").execute()
    staging = Environment.get((Environment.slug == "staging")
                              & (Environment.site_id == Site.get(Site.slug == "acme").id))
    Domain.insert(id="d" * 32, environment_id=staging.id, hostname="staging.acme.example",
                  tls_status="active", tls_issuer="letsencrypt",
                  created_at="2026-02-01T09:00:00Z", updated_at="2026-03-01T04:00:00Z",
                  expires_at="2026-05-01T09:00:00Z",
                  tls_checked_at="2026-03-01T04:00:00Z").execute()
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys("c"))


# -- the fleet (issue 14) -----------------------------------------------------------------


def test_move_form(snap_compare, seeded, make_app, size):
    """blog-berlin production (on web-2): the move form offers the other active nodes."""
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("down", "enter", "enter", "M"))


def test_move_production_confirmation(snap_compare, seeded, make_app, size):
    """Production asks for its slug and names the A record to change."""
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("down", "enter", "enter", "M", "enter"))


def test_decommission_confirmation(snap_compare, seeded, make_app, size):
    assert snap_compare(make_app(seeded), terminal_size=size,
                        run_before=keys("o", "down", "enter", "x"))
