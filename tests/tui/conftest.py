"""Console fixtures: a seeded installation on SQLite with a frozen clock, and an app on
it that runs no worker (tests drive jobs themselves)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled

from pressluft_core.app import Pressluft
from pressluft_core.clock import ManualClock
from pressluft_core.session_store import load_token, save_token
from pressluft_tui.app import PressluftApp
from tests.tui.seed import install_test_key, reproducible_ids, seed_console

if TYPE_CHECKING:
    from pressluft_tui.screens.form import FormScreen

SIZES = [(80, 24), (160, 48)]


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text field's cursor blinks every half second, so a screenshot taken while the
    machine is busy caught it either way. In these tests it does not blink: it shows
    whenever the field has focus. (Set before mounting; set later, it would hide it.)"""
    original = Input.__init__

    def init(self: Input, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self.cursor_blink = False

    monkeypatch.setattr(Input, "__init__", init)


@pytest.fixture
def tui_clock() -> ManualClock:
    return ManualClock("2026-03-01T12:00:00Z")


@pytest.fixture
def tui_core(tmp_path: Path, tui_clock: ManualClock) -> Iterator[Pressluft]:
    core = Pressluft.open(tmp_path / "home", database_url="", clock=tui_clock)
    yield core
    core.close()


@pytest.fixture
def seeded(tui_core: Pressluft, tui_clock: ManualClock) -> Pressluft:
    token = seed_console(tui_core, tui_clock)
    save_token(tui_core.rt.paths, token)
    return tui_core


@pytest.fixture
def with_storage(seeded: Pressluft) -> Pressluft:
    """The seed plus a backup bucket (no S3 is reached: the console only queues jobs)."""
    seeded.settings.set(load_token(seeded.rt.paths), "s3_bucket", "acme-backups")
    return seeded


@pytest.fixture
def empty(tui_core: Pressluft) -> Pressluft:
    install_test_key(tui_core)
    return tui_core


@pytest.fixture
def make_app() -> Callable[[Pressluft], PressluftApp]:
    return lambda core: PressluftApp(core, run_worker=False)


async def settle(pilot: Pilot, delay: float = 0.05) -> None:
    """Let loads, workers and redraws finish before looking at the screen."""
    for _ in range(3):
        await pilot.pause()
        # A reload superseded by a newer one is cancelled: that is not a failure here.
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
    await pilot.pause(delay)


async def wait_for(pilot, predicate, timeout=10.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        await pilot.pause(0.05)
    return False


async def open_form(pilot: Pilot, *keys: str) -> FormScreen:
    """Press ``keys``; the form they open."""
    from pressluft_tui.screens.form import FormScreen

    await pilot.press(*keys)
    assert await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormScreen))
    return pilot.app.screen  # type: ignore[return-value]


async def submit_form(pilot: Pilot, form: FormScreen, *, keys: Sequence[str] = ("enter",),
                      **values: str) -> None:
    """Set the named text fields, then press ``keys`` on the form's last field (enter
    there submits; a choice takes left/right first)."""
    for name, value in values.items():
        form.query_one(f"#field-{name}", Input).value = value
    list(form.query("Input, Choice"))[-1].focus()
    await pilot.press(*keys)


__all__ = ["SIZES", "open_form", "reproducible_ids", "settle", "submit_form", "wait_for"]
