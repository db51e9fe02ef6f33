"""The Domains tab's table: one row per custom domain, by host name — the primary one
marked with a shape, its certificate's status and expiry (flagged when it expires within
20 days, or when an active certificate's expiry could not be read), and the last error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text

from pressluft_core.clock import parse_iso
from pressluft_core.records import DomainRecord
from pressluft_core.services.domains import needs_attention
from pressluft_tui import render
from pressluft_tui.widgets.resource_table import ResourceTable

COLUMNS = ("", "Domain", "TLS", "Expires", "Checked", "Last error")
EMPTY = ("No custom domains: the site answers on its preview URL. a adds one (its DNS "
         "must point at the node).")


def expiry(domain: DomainRecord, now: datetime) -> Text:
    """The certificate's expiry day; ``⚠`` when it is within the warning window or, for an
    active certificate, unknown. No certificate yet (pending, failed): a dash."""
    return expiry_cell(domain.expires_at, domain.tls_status == "active", now)


def expiry_cell(expires_at: str | None, active: bool, now: datetime) -> Text:
    """A certificate's expiry day, flagged as :func:`expiry` says (also the node screen's
    wildcard preview certificate)."""
    if expires_at is None:
        if active:
            return render.Cell("⚠ unknown", style="bold yellow")
        return render.Cell("—", style="dim")
    if needs_attention(expires_at, active, now):
        days = max((parse_iso(expires_at) - now).days, 0)
        return render.Cell(f"⚠ {expires_at[:10]} ({days}d)", style="bold yellow")
    return render.day(expires_at)


def primary_marker(is_primary: bool) -> Text:
    """The primary domain (WordPress's URL): a shape and a word, not only a colour."""
    return render.Cell("● primary", style="bold green") if is_primary else render.Cell("")


class DomainsTable(ResourceTable):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, EMPTY, id=id)

    def show(self, domains: Sequence[DomainRecord], primary_id: str | None,
             now: datetime) -> None:
        self.set_rows([(d.id, [
            primary_marker(d.id == primary_id), render.plain(d.hostname),
            render.status(d.tls_status), expiry(d, now), render.stamp(d.tls_checked_at),
            render.plain(d.tls_error or "")]) for d in domains])
