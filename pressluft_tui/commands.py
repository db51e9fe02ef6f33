"""The command palette, generated from the action table (:mod:`pressluft_tui.actions`).

One provider per domain; titles start with the domain (``site: open acme``, ``job: cancel
3f2a…``) so the palette reads like a menu. An action with a subject is listed once per
object (every environment, node, job …), its title completed with the object's label;
running it runs the table's action on that object, as its key would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, ClassVar

from textual.command import DiscoveryHit, Hit, Hits, Provider

from pressluft_core.records import DomainRecord
from pressluft_tui.actions import ACTIONS, Action
from pressluft_tui.context import ConsoleContext, Selection, context_of

# (title, run it, help, (site id, environment id) it is about — or ())
Command = tuple[str, Callable[[], object], str, tuple[str, ...]]
# (label, the selection it is, the record `when` and `detail` look at, its context key)
Subject = tuple[str, Selection, Any, tuple[str, ...]]


def _environments(ctx: ConsoleContext) -> Iterator[Subject]:
    token = ctx.token or ""
    sites = {site.id: site.slug for site in ctx.core.sites.list(token)}
    for env in ctx.core.environments.list(token):
        ids = (env.site_id, env.id)
        yield (f"{sites.get(env.site_id, env.site_id)}/{env.slug}",
               Selection(site_id=env.site_id, environment_id=env.id), env, ids)


def _domains(ctx: ConsoleContext) -> Iterator[Subject]:
    by_env: dict[str, list[DomainRecord]] = {}
    for domain in ctx.core.domains.list(ctx.token or ""):
        by_env.setdefault(domain.environment_id, []).append(domain)
    for label, _selection, env, ids in _environments(ctx):
        for domain in by_env.get(env.id, []):
            yield (f"{domain.hostname} ({label})",
                   Selection(*ids, domain_id=domain.hostname), (domain, env), ids)


SUBJECTS: dict[str, Callable[[ConsoleContext], Iterator[Subject]]] = {
    "site": lambda ctx: ((site.slug, Selection(site_id=site.id), site, ())
                         for site in ctx.core.sites.list(ctx.token or "")),
    "environment": _environments,
    "domain": _domains,
    "node": lambda ctx: ((node.name, Selection(node_id=node.id), node, ())
                         for node in ctx.core.nodes.list(ctx.token or "")),
    "job": lambda ctx: ((f"{job.id[:8]} {job.job_type} ({job.status})", Selection(job=job),
                         job, ()) for job in ctx.core.jobs.list(ctx.token or "", limit=100)),
    "setting": lambda ctx: ((value.key, Selection(setting=value.key), value, ())
                            for value in ctx.core.settings.list(ctx.token or "")),
}


def palette_commands(ctx: ConsoleContext, prefixes: tuple[str, ...]) -> list[Command]:
    """Every command of the actions whose title starts with one of ``prefixes``: those
    about nothing in particular first, then per object (one query per kind of object)."""
    actions = [a for a in ACTIONS if a.title and a.title.split(":")[0] in prefixes]
    commands: list[Command] = [(a.title or "", partial(ctx.perform, a.id, Selection()),
                                a.description, ()) for a in actions if a.subject is None]
    kinds = list(dict.fromkeys(a.subject for a in actions if a.subject))
    for kind in kinds:
        for label, selection, record, ids in SUBJECTS[kind](ctx):
            commands += [(f"{a.title} {label}", partial(ctx.perform, a.id, selection),
                          _help(a, record), ids)
                         for a in actions if a.subject == kind
                         and (a.when is None or a.when(record))]
    return commands


def _help(action: Action, record: Any) -> str:
    return action.detail(record) if action.detail else action.description


class TableProvider(Provider):
    """Builds its commands once per palette opening (off the UI thread), then matches.

    A ``contextual`` provider's commands are about one environment: with nothing typed,
    the palette lists those of the environment (or site) on screen, and the commands
    about no environment in particular when the screen shows none."""

    prefixes: ClassVar[tuple[str, ...]] = ()
    contextual: ClassVar[bool] = False
    _commands: list[Command]
    _context: tuple[str, ...] = ()

    async def startup(self) -> None:
        ctx = context_of(self.app)
        self._context = tuple(value for value in (getattr(self.screen, "site_id", None),
                                                  getattr(self.screen, "environment_id", None))
                              if isinstance(value, str))
        self._commands = (await asyncio.to_thread(palette_commands, ctx, self.prefixes)
                          if ctx.token else [])

    def _discovered(self, ids: tuple[str, ...]) -> bool:
        if not self.contextual:
            return True
        if self._context and ids:
            return ids[:len(self._context)] == self._context
        return not self._context and not ids

    async def discover(self) -> Hits:
        for title, run, help_text, ids in self._commands:
            if self._discovered(ids):
                yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, run, help_text, _ids in self._commands:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, text=title, help=help_text)


class NavigationCommands(TableProvider):
    prefixes = ("go", "session")


class SiteCommands(TableProvider):
    prefixes = ("site",)


class EnvironmentCommands(TableProvider):
    prefixes = ("env",)
    contextual = True


class BackupCommands(TableProvider):
    prefixes = ("backup",)
    contextual = True


class DomainCommands(TableProvider):
    prefixes = ("domain",)
    contextual = True


class StorageCommands(TableProvider):
    prefixes = ("storage",)


class JobCommands(TableProvider):
    prefixes = ("job",)


class NodeCommands(TableProvider):
    prefixes = ("node",)


class SettingCommands(TableProvider):
    prefixes = ("setting",)


PROVIDERS = {NavigationCommands, SiteCommands, EnvironmentCommands, BackupCommands,
             DomainCommands, StorageCommands, JobCommands, NodeCommands, SettingCommands}
