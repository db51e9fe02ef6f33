"""How resources look: status colours, environment badges, times. Every value from the
database becomes a ``Text`` here, so nothing an operator typed is ever read as markup."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.text import Text

from pressluft_core.clock import parse_iso

if TYPE_CHECKING:
    from pressluft_core.records import NodeRecord, ReleaseRecord

STATUS_STYLES = {
    "active": "green", "succeeded": "green", "healthy": "green", "clean": "green",
    "completed": "green", "expired": "dim",
    "queued": "cyan", "pending": "cyan", "provisioning": "cyan", "unknown": "dim",
    "running": "bold yellow", "deploying": "bold yellow", "cloning": "bold yellow",
    "restoring": "bold yellow",
    "failed": "bold red", "unreachable": "bold red", "unhealthy": "bold red",
    "drifted": "bold red", "cancelled": "magenta", "decommissioned": "dim",
}

# Production must stand out without colour too: its label is upper case and reversed.
ENV_BADGES = {
    "production": ("PRODUCTION", "bold reverse red"),
    "staging": ("staging", "yellow"),
    "clone": ("clone", "blue"),
}


class Cell(Text):
    """Single-line table text. Rich measures a ``Text`` by splitting it into words, which
    dominates filling a table of a thousand rows; a cell never wraps, so its width is
    simply its length."""

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = cell_len(self.plain)
        return Measurement(width, width)


def status(value: str | None) -> Text:
    if not value:
        return Cell("—", style="dim")
    return Cell(value, style=STATUS_STYLES.get(value, ""))


def env_badge(environment_type: str) -> Text:
    label, style = ENV_BADGES.get(environment_type, (environment_type, ""))
    return Cell(f" {label} ", style=style)


def release_name(release: ReleaseRecord | None) -> str:
    """A release as the node knows it: the name of its directory."""
    return PurePosixPath(release.path).name if release else "—"


def current_marker(is_current: bool) -> Text:
    """The release an environment serves: a shape, not only a colour."""
    return Cell("●", style="bold green") if is_current else Cell("")


def plain(value: object) -> Text:
    return Cell("" if value is None else str(value))


def short_id(value: str | None) -> Text:
    return Cell(value[:8] if value else "—", style="dim" if not value else "")


def ago(stamp: str | None, now: datetime) -> Text:
    if not stamp:
        return Cell("never", style="dim")
    seconds = int((now - parse_iso(stamp)).total_seconds())
    if seconds < 60:
        text = f"{max(seconds, 0)}s ago"
    elif seconds < 3600:
        text = f"{seconds // 60}m ago"
    elif seconds < 86400:
        text = f"{seconds // 3600}h ago"
    else:
        text = f"{seconds // 86400}d ago"
    return Cell(text)


def size(value: int | None) -> Text:
    """Bytes as an operator reads them (1.3 GB); a dash while unknown."""
    if value is None:
        return Cell("—", style="dim")
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return Cell(f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}")
        amount /= 1024
    return Cell(f"{value} B")  # pragma: no cover - the loop always returns


def stamp(value: str | None) -> Text:
    """An ISO time to the minute (2026-03-01 03:00), UTC like every time stored."""
    if not value:
        return Cell("—", style="dim")
    return Cell(value.replace("T", " ")[:16])


def day(value: str | None) -> Text:
    return Cell(value[:10] if value else "—", style="" if value else "dim")


def verdict(result: str | None, when: str | None, now: datetime) -> Text:
    """A restore drill's verdict (``healthy``, ``unhealthy: …``, ``failed: …``) and when."""
    if not when:
        return Cell("never", style="dim")
    word = (result or "unknown").split(":", 1)[0]
    return Text.assemble(status(word), " ", ago(when, now))


def short_os(os_release: str | None) -> str:
    """``Debian GNU/Linux 12 (bookworm)`` → ``Debian 12 (bookworm)``; ``—`` until read."""
    return os_release.replace(" GNU/Linux", "") if os_release else "—"


def stack_line(node: NodeRecord) -> str:
    """What the last check or provisioning read on the node: OS and stack versions."""
    parts = [short_os(node.os_release)] + [
        f"{label} {value}" for label, value in (
            ("PHP", node.php_version), ("MariaDB", node.mariadb_version),
            ("nginx", node.nginx_version)) if value]
    if len(parts) == 1:
        parts.append("no WordPress stack seen yet (provision it)")
    return "  ·  ".join(parts)
