"""FormScreen with ``submit``: the form closes only once the core accepted the values,
and an impatient second enter while the first submit runs does not submit again."""

from __future__ import annotations

import threading

from textual.app import App
from textual.widgets import Input

from pressluft_core.errors import ValidationError
from pressluft_tui.screens.form import Field, FormScreen
from tests.tui.test_flows import wait_for


async def test_a_second_enter_while_submitting_does_not_submit_twice():
    calls: list[dict[str, str]] = []
    release = threading.Event()
    closed: list[dict[str, str] | None] = []

    def submit(values: dict[str, str]) -> None:
        calls.append(values)
        release.wait(10)  # the core is slow this time

    app = App[None]()
    async with app.run_test() as pilot:
        await app.push_screen(FormScreen("Slow", [Field("name", "Name")], submit=submit),
                              closed.append)
        app.screen.query_one("#field-name", Input).value = "one"
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: len(calls) == 1)
        await pilot.press("enter", "enter")
        await pilot.pause(0.2)
        release.set()
        assert await wait_for(pilot, lambda: closed == [{"name": "one"}])
        assert len(calls) == 1


async def test_after_a_refusal_the_corrected_values_can_be_submitted():
    calls: list[str] = []

    def submit(values: dict[str, str]) -> None:
        calls.append(values["name"])
        if values["name"] != "good":
            raise ValidationError("name", f"{values['name']!r} is not good")

    closed: list[dict[str, str] | None] = []
    app = App[None]()
    async with app.run_test() as pilot:
        await app.push_screen(FormScreen("Picky", [Field("name", "Name")], submit=submit),
                              closed.append)
        form = app.screen
        form.query_one("#field-name", Input).value = "bad"
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: "'bad' is not good" in str(
            form.query_one("#error-name").render()))
        assert closed == [] and app.screen is form
        form.query_one("#field-name", Input).value = "good"
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: closed == [{"name": "good"}])
        assert calls == ["bad", "good"]
