"""The promotion plan and its confirmation in one modal: what will be copied, what is
protected, the drift report, the backup and the release — then ``y``, or the site slug
typed when production drifted. A plan the core blocks can only be closed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

from pressluft_tui.screens.confirm import ConfirmScreen
from pressluft_tui.widgets.drift_report import report_lines


class PromoteScreen(ConfirmScreen):
    # The plan scrolls with page up/down even while the slug is being typed.
    BINDINGS = [
        Binding("pageup", "scroll_plan(-1)", "Scroll the plan up", id="promote.page-up"),
        Binding("pagedown", "scroll_plan(1)", "Scroll the plan down", id="promote.page-down"),
    ]

    def __init__(self, site_slug: str, plan: dict[str, Any]) -> None:
        self._plan = plan
        self.blocked_by: str | None = plan.get("blocked_by")
        typed = bool(plan.get("needs_typed_confirmation")) and not self.blocked_by
        super().__init__(f"Promote {plan['source']} to {plan['target']}?", [],
                         require_word=site_slug if typed else None,
                         danger=plan.get("drift_status") == "drifted")

    @property
    def typed(self) -> bool:
        """The site slug has to be typed (production drifted)."""
        return self._word is not None

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text(self._title, style="bold"), id="confirm-title")
            with VerticalScroll(id="promote-plan"):
                yield Static(plan_text(self._plan))
            if self.blocked_by:
                yield Static(Text(f"Blocked: {self.blocked_by}. Nothing can be promoted now; "
                                  "escape closes."), id="promote-blocked")
            elif self._word:
                yield Static(Text(f"Production drifted: changes marked NOT protected would be "
                                  f"overwritten. Type {self._word} and enter to promote "
                                  "anyway (audited) · escape cancels · pgup/pgdn scroll"),
                             classes="confirm-hint")
                yield Input(placeholder=self._word, id="confirm-word")
            else:
                yield Static(Text("y to promote · n or escape to cancel · up/down scroll"),
                             classes="confirm-hint")

    def on_mount(self) -> None:
        if self._word:
            self.query_one(Input).focus()
        else:  # up/down scroll the plan
            self.query_one("#promote-plan", VerticalScroll).focus()

    def action_scroll_plan(self, pages: int) -> None:
        plan = self.query_one("#promote-plan", VerticalScroll)
        if pages > 0:
            plan.scroll_page_down()
        else:
            plan.scroll_page_up()

    def action_confirm(self) -> None:
        if self.blocked_by is None:
            super().action_confirm()


def plan_text(plan: dict[str, Any]) -> Text:
    def section(title: str, body: str | Text) -> Text:
        return Text.assemble(Text(f"{title}:", style="bold"), " ", body)

    check = plan.get("drift_check_id")
    checked = (plan.get("drift_checked_at") or "never").replace("T", " ")[:16]
    lines = [section("Drift", Text.assemble(
        Text(plan["drift_status"], style="bold red" if plan["drift_status"] == "drifted"
             else "green"), f" — checked {checked}" + (f" (check {check[:8]})" if check
                                                       else "")))]
    lines += [Text("  ") + line for line in report_lines(plan.get("report"))]
    copied, protected = plan["copied_tables"], plan["protected_tables"]
    lines += [
        Text(),
        section(f"Copied from {plan['source']} ({len(copied)} tables, its URLs rewritten to "
                "production's)", ", ".join(copied) or "(known after the first drift check)"),
        section(f"Protected: production's are kept ({plan['preset']}, {len(protected)} "
                "tables)", ", ".join(protected)),
        section("Protected paths", ", ".join(plan["protected_paths"])),
        section("Backup", plan["backup"]),
        section("Release", plan["release"] or "(no release to copy)"),
        Text(),
        Text("Production keeps serving throughout. If its health check fails afterwards, the "
             "tables and the release swap back at once.", style="dim"),
    ]
    return Text("\n").join(lines)
