"""Drift as the operator reads it: what changed in production since a staging or clone
environment was made, and what a promotion would keep or overwrite. Used by the Drift tab
and by the promotion plan."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import Static

from pressluft_core.records import DriftCheckRecord, EnvironmentRecord
from pressluft_core.wordpress.drift import DriftReport, PathChange, TableChange
from pressluft_tui import render


def report_lines(report: dict[str, Any] | None) -> list[Text]:
    """The report's lines (as ``pressluft env promote --plan`` prints them); the changes a
    promotion would overwrite stand out."""
    if not report:
        return [Text("no comparison yet: only the baseline taken at clone time", style="dim")]
    lines = DriftReport(
        report["status"], [TableChange(**t) for t in report.get("protected", [])],
        [PathChange(**p) for p in report.get("paths", [])],
        [TableChange(**t) for t in report.get("overwritten", [])]).lines()
    return [Text(line, style="bold red" if line.startswith("NOT protected") else "")
            for line in lines]


def check_report(check: DriftCheckRecord | None) -> dict[str, Any] | None:
    if check is None or not check.db_checksums_json:
        return None
    report = json.loads(check.db_checksums_json).get("report")
    return report if isinstance(report, dict) else None


def drift_note(check: DriftCheckRecord) -> str:
    if check.db_checksums_json and json.loads(check.db_checksums_json).get("baseline"):
        return "baseline, taken at clone time"
    return ""


class DriftSummary(Static):
    """Status, last check and its report, above the list of checks."""

    def show(self, env: EnvironmentRecord, checks: list[DriftCheckRecord],
             now: datetime) -> None:
        if env.environment_type == "production":
            self.update(Text(
                "Production is what gets promoted to: drift is checked for its staging and "
                "clone environments. Open one of them, then k checks drift and p promotes.",
                style="dim"))
            return
        latest = next((c for c in checks if c.id == env.last_drift_check_id),
                      checks[0] if checks else None)
        head = Text.assemble(Text("Drift  ", style="bold"), render.status(env.drift_status),
                             "  last checked ", render.ago(env.drift_checked_at, now))
        if latest is not None:
            head.append_text(Text(f"  (check {latest.id[:8]}, {latest.promotion_preset})",
                                  style="dim"))
        lines = [head, Text()]
        if latest is None:
            lines.append(Text("No drift check yet: k runs one (p runs one before it "
                              "promotes).", style="dim"))
        else:
            lines += report_lines(check_report(latest))
        lines += [Text(), Text("k: check drift now · p: promote to production (checks drift, "
                               "shows the plan, asks first)", style="dim")]
        self.update(Text("\n").join(lines))
