"""The console's shape: screens and controllers see the app only through the context
module, which pulls in nothing of the console and no Textual; and every action of the
table is declared whole, with its keys bound and its palette commands listed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from textual.app import App
from textual.screen import Screen

from pressluft_core.app import Pressluft
from pressluft_core.session_store import load_token
from pressluft_tui.actions import ACTIONS, BY_BINDING
from pressluft_tui.commands import PROVIDERS, palette_commands
from pressluft_tui.context import ConsoleContext, Selection
from pressluft_tui.screens.certificates import CertificatesScreen
from pressluft_tui.screens.environment import EnvironmentScreen
from pressluft_tui.screens.jobs import JobsScreen
from pressluft_tui.screens.node import NodeScreen
from pressluft_tui.screens.nodes import NodesScreen
from pressluft_tui.screens.settings import SettingsScreen
from pressluft_tui.screens.site import SiteScreen
from pressluft_tui.screens.sites import SitesScreen
from pressluft_tui.widgets.backups_table import BackupsTable

SCRIPT = """
import json, sys
import pressluft_tui.context
ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "pressluft_tui"))
print(json.dumps(ui))
"""

SCREENS: dict[str, type[Screen[None]] | type[BackupsTable]] = {
    "sites": SitesScreen, "site": SiteScreen, "environment": EnvironmentScreen,
    "certificates": CertificatesScreen, "jobs": JobsScreen, "nodes": NodesScreen,
    "node": NodeScreen, "settings": SettingsScreen, "backups-table": BackupsTable}


def test_context_imports_nothing_of_the_console_and_no_textual() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == ["pressluft_tui", "pressluft_tui.context"]


def test_every_action_is_declared_whole() -> None:
    ids = [action.id for action in ACTIONS]
    assert len(ids) == len(set(ids))
    keys = [key.id for action in ACTIONS for key in action.keys]
    assert len(keys) == len(set(keys)) == len(BY_BINDING)
    for action in ACTIONS:
        assert action.id and action.description, action
        assert action.title or action.keys or action.id.endswith(".open"), action
        if action.title:
            assert ":" in action.title and action.title.split(":")[0] in {
                prefix for provider in PROVIDERS for prefix in provider.prefixes}, action


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.keys], ids=lambda a: a.id)
def test_each_key_is_bound_on_its_screen(action) -> None:  # type: ignore[no-untyped-def]
    for key in action.keys:
        bound = {binding.id: binding for binding in SCREENS[key.screen].BINDINGS
                 if not isinstance(binding, tuple)}
        assert key.id in bound, (key.screen, key.id)
        binding = bound[key.id]
        assert (binding.key, binding.description, binding.show) == (
            key.key, key.description, key.show)


class _Context:
    """Just enough context to build the palette's commands."""

    def __init__(self, core: Pressluft) -> None:
        self.core = core
        self.token = load_token(core.rt.paths)
        self.performed: list[tuple[str, Selection]] = []

    def perform(self, action_id: str, selection: Selection) -> None:
        self.performed.append((action_id, selection))


def test_each_palette_action_is_listed_where_it_applies(seeded: Pressluft) -> None:
    ctx = _Context(seeded)
    prefixes = tuple(prefix for provider in PROVIDERS for prefix in provider.prefixes)
    commands = palette_commands(ctx, prefixes)  # type: ignore[arg-type]
    titles = [title for title, *_rest in commands]
    assert len(titles) == len(set(titles))
    for action in ACTIONS:
        if action.title is None:
            continue
        listed = [t for t in titles if t == action.title or t.startswith(f"{action.title} ")]
        assert listed, action.id
    # Only where it applies: production is promoted to, never promoted.
    assert "env: promote… acme/staging" in titles
    assert "env: promote… acme/production" not in titles
    # A command runs its action on the object it names.
    run = next(run for title, run, *_ in commands if title == "env: deploy… acme/staging")
    run()
    action_id, selection = ctx.performed[-1]
    staging = seeded.environments.get(ctx.token, "acme", "staging")
    assert (action_id, selection.env()) == ("env.deploy", (staging.site_id, staging.id))


async def test_the_app_is_a_console_context_and_nothing_more(make_app, seeded):  # type: ignore[no-untyped-def]
    app = make_app(seeded)
    assert type(app).__bases__ == (App,)
    async with app.run_test():
        assert isinstance(app, ConsoleContext)
