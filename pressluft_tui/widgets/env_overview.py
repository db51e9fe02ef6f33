"""The environment's Overview tab: where it runs, what it serves (its primary domain's URL
once that has a certificate, and the preview URL), and how safe it is —
drift, backup schedule, the latest backup and when a backup of it was last proven
restorable by a restore drill."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from pressluft_core.records import BackupRecord
from pressluft_core.services.overview import EnvironmentDetail
from pressluft_tui import render

LABEL_WIDTH = 18


class EnvironmentOverview(Static):
    def show(self, data: EnvironmentDetail, now: datetime) -> None:
        env = data.environment
        primary = next((d for d in data.domains if d.id == env.primary_domain_id
                        and d.tls_status == "active"), None)
        rows = [("URL", render.plain(f"https://{primary.hostname}" if primary
                                     else env.preview_url))]
        if primary:
            rows.append(("Preview URL", render.plain(env.preview_url)))
        rows += [
            ("Node", render.plain(f"{data.node.name} ({data.node.hostname})")),
            ("Status", render.status(env.status)),
            ("Promotion preset", render.plain(env.promotion_preset)),
            ("Drift", Text.assemble(render.status(env.drift_status), " ",
                                    render.ago(env.drift_checked_at, now))),
            ("Current release", _current_release(data)),
            ("Health checks", _health_checks(data)),
            ("Backups", _schedule(data)),
            ("Latest backup", _latest(data.backups, now)),
            ("Proven restorable", _proven(data.backups, now)),
        ]
        if env.expires_at:
            rows.append(("Expires", Text.assemble(render.stamp(env.expires_at),
                                                  Text(" (deleted then, after a backup)",
                                                       style="dim"))))
        rows += [("Created", render.plain(env.created_at)), ("Id", render.plain(env.id))]
        self.update(Text("\n").join(
            Text.assemble(Text(f"{label:<{LABEL_WIDTH}}", style="bold"), value)
            for label, value in rows))


def _current_release(data: EnvironmentDetail) -> Text:
    current = next((r for r in data.releases
                    if r.id == data.environment.current_release_id), None)
    if current is None:
        return render.short_id(data.environment.current_release_id)
    return Text.assemble(render.plain(render.release_name(current)), "  ",
                         render.status(current.health_status))


def _health_checks(data: EnvironmentDetail) -> Text:
    """Each part of the current release's last health check: ✓, or ✗ with its evidence;
    then what the front page must show."""
    current = next((r for r in data.releases
                    if r.id == data.environment.current_release_id), None)
    checks = current.checks if current else {}
    expected = data.environment.health_expected_text
    looks_for = Text(f"  (page must show {expected!r}; e changes it)" if expected else
                     "  (page must show the site title; e changes it)", style="dim")
    if not checks:
        return Text.assemble(Text("not recorded yet", style="dim"), looks_for)
    parts = [Text(f"{name} ✓", style="green") if verdict == "ok" else
             Text(f"{name} ✗ {verdict}", style="bold red") for name, verdict in checks.items()]
    return Text.assemble(*[piece for part in parts for piece in (part, "  ")], looks_for)


def _schedule(data: EnvironmentDetail) -> Text:
    env = data.environment
    if env.backup_schedule:
        return Text.assemble(render.plain(env.backup_schedule),
                             Text(" (set for this environment; s changes it)", style="dim"))
    default = "daily" if env.environment_type == "production" else "off"
    return Text.assemble(render.plain(default), Text(f" (the default for "
                                                     f"{env.environment_type}; s changes it)",
                                                     style="dim"))


def _latest(backups: list[BackupRecord], now: datetime) -> Text:
    if not backups:
        return Text("none yet", style="dim")
    latest = backups[0]
    return Text.assemble(render.short_id(latest.id), " ", render.plain(latest.backup_scope),
                         " ", render.status(latest.status), " ",
                         render.ago(latest.created_at, now))


def _proven(backups: list[BackupRecord], now: datetime) -> Text:
    """The newest healthy restore drill; and the newest drill too when it failed since."""
    drilled = sorted((b for b in backups if b.verified_at), key=lambda b: b.verified_at or "",
                     reverse=True)
    healthy = next((b for b in drilled if (b.verify_result or "") == "healthy"), None)
    if healthy is None:
        text = Text("never: v on a completed backup (Backups tab) runs a restore drill",
                    style="dim")
    else:
        text = Text.assemble(render.ago(healthy.verified_at, now), " — backup ",
                             render.short_id(healthy.id), " of ",
                             render.stamp(healthy.created_at), f" ({healthy.backup_scope})")
    if drilled and drilled[0] is not healthy:
        text.append_text(Text.assemble(
            "\n" + " " * LABEL_WIDTH, Text("last drill: ", style="bold"),
            render.verdict(drilled[0].verify_result, drilled[0].verified_at, now),
            f" (backup {drilled[0].id[:8]})"))
    return text
