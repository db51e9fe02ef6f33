"""What every controller shares: the context, the session token, toasts from worker
threads, the one confirmation pattern, and loading the environment an action names.

An action first loads what its dialogs name in a thread worker, then asks on the UI
thread; the core call runs in another worker whose errors reach the app's one handler.
These helpers are that pattern once, so the controllers hold only what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pressluft_core.records import (
    DomainRecord,
    EnvironmentRecord,
    NodeRecord,
    ReleaseRecord,
    SiteRecord,
)
from pressluft_tui.context import ConsoleContext, WithContext, in_worker
from pressluft_tui.screens.confirm import ConfirmScreen
from pressluft_tui.screens.form import Field, FormScreen


@dataclass(frozen=True)
class Target:
    """An environment, as its dialogs describe it (one type for every controller)."""

    site: SiteRecord
    env: EnvironmentRecord
    releases: list[ReleaseRecord] = field(default_factory=list)  # newest first
    nodes: tuple[NodeRecord, ...] = ()  # every node, for choosing where a copy goes
    domains: list[DomainRecord] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.site.slug}/{self.env.slug}"

    @property
    def production(self) -> bool:
        return self.env.environment_type == "production"

    @property
    def node_name(self) -> str:
        return next((n.name for n in self.nodes if n.id == self.env.node_id), self.env.node_id)

    def other_nodes(self) -> tuple[str, ...]:
        """Active nodes other than the environment's: where it can be moved."""
        return tuple(n.name for n in self.nodes
                     if n.status == "active" and n.id != self.env.node_id)

    @property
    def current(self) -> ReleaseRecord | None:
        return next((r for r in self.releases if r.id == self.env.current_release_id), None)

    def rollback_target(self) -> ReleaseRecord | None:
        """The newest healthy release before the current one: where the core's rollback
        goes (the core decides; the confirmation names it)."""
        current = self.current
        return next((r for r in self.releases if r.health_status == "healthy" and (
            current is None or (r.id != current.id and r.created_at <= current.created_at))),
            None)

    # -- domains ----------------------------------------------------------------------------

    @property
    def primary(self) -> DomainRecord | None:
        return next((d for d in self.domains if d.id == self.env.primary_domain_id), None)

    @property
    def current_url(self) -> str:
        primary = self.primary
        return f"https://{primary.hostname}" if primary else self.env.preview_url

    def domain(self, ref: str) -> DomainRecord | None:
        return next((d for d in self.domains if ref in (d.id, d.hostname)), None)


class Controller(WithContext):
    """One domain's actions; reaches the app only through :class:`ConsoleContext`."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self._ctx = ctx

    @property
    def ctx(self) -> ConsoleContext:
        return self._ctx

    def tell(self, message: str) -> None:
        """Notify from a worker thread; text from the database is never markup."""
        self.ctx.call_from_thread(self.ctx.notify, message, markup=False)

    def refuse(self, sentence: str, *, title: str = "Refused") -> None:
        """Say on the UI thread why nothing was done (never ask what the core refuses)."""
        self.ctx.notify(f"{sentence}; nothing was done", title=title, severity="error",
                        markup=False)

    def confirm(self, title: str, lines: Sequence[str], then: Callable[[], object], *,
                require_word: str | None = None, danger: bool = False) -> None:
        """The confirmation dialog; ``then`` runs only on yes (or the typed word)."""

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                then()

        self.ctx.push_screen(ConfirmScreen(title, lines, require_word=require_word,
                                           danger=danger), decided)

    def ask(self, title: str, fields: Sequence[Field], note: str | None,
            then: Callable[[dict[str, str]], object]) -> None:
        """A form without a core call of its own: ``then`` gets the values unless
        cancelled."""

        def submitted(values: dict[str, str] | None) -> None:
            if values:
                then(values)

        self.ctx.push_screen(FormScreen(title, fields, note), submitted)

    def submit_form(self, title: str, fields: Sequence[Field], note: str | None,
                    submit: Callable[[dict[str, str]], object],
                    closed: Callable[[Any], object] | None = None) -> None:
        """A form whose ``submit`` calls the core in the form's worker: a refusal keeps
        it open with the values (see FormScreen)."""
        self.ctx.push_screen(FormScreen(title, fields, note, submit=submit), closed)

    def with_target(self, site_id: str, env_id: str,
                    then: Callable[[Target], object]) -> None:
        self._load_target(site_id, env_id, then)

    @in_worker("env-load")
    def _load_target(self, site_id: str, env_id: str,
                     then: Callable[[Target], object]) -> None:
        token = self.token
        env = self.core.environments.get(token, site_id, env_id)
        target = Target(self.core.sites.get(token, site_id), env,
                        self.core.environments.releases(token, site_id, env_id),
                        tuple(self.core.nodes.list(token)),
                        self.core.domains.list(token, site_id, env.id))
        self.ctx.call_from_thread(then, target)
