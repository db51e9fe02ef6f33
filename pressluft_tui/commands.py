"""Command palette providers, one per domain; titles start with the domain
(``site: open acme``, ``job: cancel 3f2a…``) so the palette reads like a menu."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from pressluft_core.records import DomainRecord, EnvironmentRecord
    from pressluft_tui.app import PressluftApp

Command = tuple[str, Callable[[], object], str]


class _DomainProvider(Provider):
    """Builds its commands once per palette opening (off the UI thread), then matches."""

    _commands: list[Command]

    @property
    def console(self) -> PressluftApp:
        return self.app  # type: ignore[return-value]

    def build(self) -> list[Command]:
        raise NotImplementedError

    async def startup(self) -> None:
        if not self.console.token:
            self._commands = []
            return
        self._commands = await asyncio.to_thread(self.build)

    async def discover(self) -> Hits:
        for title, action, help_text in self._commands:
            yield DiscoveryHit(title, action, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._commands:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), action, text=title, help=help_text)


class NavigationCommands(_DomainProvider):
    def build(self) -> list[Command]:
        app = self.console
        return [
            ("go: sites", app.show_home, "the home screen"),
            ("go: jobs", app.action_open_jobs, "all jobs with their live log"),
            ("go: nodes", app.action_open_nodes, "hosts and their reachability"),
            ("go: settings", app.action_open_settings, "storage, domains, ACME"),
            ("go: certificates", app.action_open_certificates,
             "every certificate on every node, soonest expiry first"),
            ("go: audit log", app.action_open_audit, "every change, refusals too"),
            ("session: log out", app.log_out, "revoke this console's session; jobs go on"),
        ]


class SiteCommands(_DomainProvider):
    def build(self) -> list[Command]:
        app = self.console
        commands: list[Command] = [
            ("site: create…", app.new_site, "new site + production"),
            ("site: import…", app.import_site, "a new site from a .tar.gz/.tar.zst archive "
             "(URL or a path here)")]
        for site in app.core.sites.list(app.token or ""):
            commands.append((f"site: open {site.slug}", partial(app.open_site, site.id),
                             site.name))
            commands.append((f"site: jobs {site.slug}",
                             partial(app.open_jobs, site_id=site.id), "jobs of this site"))
        return commands


class _ContextProvider(_DomainProvider):
    """Commands about one environment (``env: deploy… acme/production``). With nothing
    typed, the palette lists those of the environment (or site) on screen, and the
    commands about no environment in particular when the screen shows none."""

    _context: tuple[str, ...] = ()
    _keys: list[tuple[str, ...]]  # (site id, environment id) of each command, or ()

    def add(self, commands: list[Command], title: str, action: Callable[[], object],
            help_text: str, key: tuple[str, ...] = ()) -> None:
        commands.append((title, action, help_text))
        self._keys.append(key)

    def environments(self) -> list[tuple[str, EnvironmentRecord]]:
        """Every environment with its label (``acme/staging``)."""
        app = self.console
        token = app.token or ""
        sites = {site.id: site.slug for site in app.core.sites.list(token)}
        return [(f"{sites.get(env.site_id, env.site_id)}/{env.slug}", env)
                for env in app.core.environments.list(token)]

    async def startup(self) -> None:
        self._keys = []
        screen = self.screen
        self._context = tuple(value for value in (getattr(screen, "site_id", None),
                                                  getattr(screen, "environment_id", None))
                              if isinstance(value, str))
        await super().startup()

    async def discover(self) -> Hits:
        for (title, action, help_text), ids in zip(self._commands, self._keys, strict=True):
            if (ids[:len(self._context)] == self._context if self._context and ids
                    else not self._context and not ids):
                yield DiscoveryHit(title, action, help=help_text)


class EnvironmentCommands(_ContextProvider):
    """``env: deploy… acme/production`` for every environment; promotion, drift checks and
    deletion only for staging and clone environments."""

    def build(self) -> list[Command]:
        app = self.console
        commands: list[Command] = []
        for label, env in self.environments():
            production = env.environment_type == "production"
            asks = " (asks first)" if production else ""
            ids = (env.site_id, env.id)
            entries: list[tuple[str, Callable[[str, str], object], str]] = [
                ("clone…", app.clone_environment, "a staging copy or a clone of it"),
                ("deploy…", app.deploy_environment, "from git or an archive" + asks),
                ("deploy plan…", app.plan_deploy, "what a deploy would add, replace and "
                 "keep; nothing is switched"),
                ("rollback", app.rollback_environment, "to the previous healthy release"
                 + asks),
                ("health check", app.check_environment_health, "load the site and record it"),
                ("WordPress login", app.show_wordpress_login, "reveal it (audited)"),
                ("releases", app.show_releases, "newest first, the current one marked"),
                ("update…", app.update_environment, "core, plugins, themes or all" + asks),
                ("backup schedule…", app.set_backup_schedule, "daily, off or the default"),
                ("health check text…", app.set_health_text, "what the front page must show "
                 "(default: the site's title)"),
                ("regenerate preview URL…", app.regenerate_preview_url,
                 "move to the preview URL the settings give now (asks first)"),
                ("move to node…", app.move_environment, "streamed to another node, "
                 "health-checked there, switched" + (" (type its slug)" if production
                                                      else "")),
            ]
            if env.previous_node_id:
                entries.append(("remove old copy…", app.remove_old_copy,
                                "the copy a move left on the node it came from"))
            if not production:
                entries += [
                    ("drift check", app.check_drift, "production now against its baseline"),
                    ("promote…", app.promote_environment, "to production: drift check, "
                     "plan, confirmation"),
                    ("delete…", app.delete_environment, "backup first; type its slug"),
                ]
            for title, action, help_text in entries:
                self.add(commands, f"env: {title} {label}", partial(action, *ids),
                         help_text, ids)
        return commands


class BackupCommands(_ContextProvider):
    """``backup: create… acme/production`` and friends; restore and verify first ask which
    of the environment's completed backups."""

    def build(self) -> list[Command]:
        app = self.console
        commands: list[Command] = []
        self.add(commands, "backup: cleanup", app.cleanup_backups,
                 "expired backups marked and their objects deleted (asks first)")
        for label, env in self.environments():
            ids = (env.site_id, env.id)
            self.add(commands, f"backup: create… {label}",
                     partial(app.create_backup, *ids), "full, db or files", ids)
            self.add(commands, f"backup: restore… {label}",
                     partial(app.pick_backup, *ids, "restore"),
                     "choose a backup, then where to (asks first)", ids)
            self.add(commands, f"backup: verify… {label}",
                     partial(app.pick_backup, *ids, "verify"),
                     "restore drill of a backup in a throwaway environment", ids)
        return commands


class DomainCommands(_ContextProvider):
    """``domain: add… acme/production`` for every environment; ``domain: remove…`` and
    ``domain: make primary…`` for each of its domains (named after it)."""

    def build(self) -> list[Command]:
        app = self.console
        token = app.token or ""
        by_env: dict[str, list[DomainRecord]] = {}
        for domain in app.core.domains.list(token):
            by_env.setdefault(domain.environment_id, []).append(domain)
        commands: list[Command] = []
        self.add(commands, "domain: check certificate expiry",
                 app.action_check_certificate_expiry,
                 "read every certificate's expiry date from its node now")
        for label, env in self.environments():
            ids = (env.site_id, env.id)
            self.add(commands, f"domain: add… {label}", partial(app.add_domain, *ids),
                     "DNS check, certificate, nginx; primary or not", ids)
            for domain in by_env.get(env.id, []):
                name = f"{domain.hostname} ({label})"
                self.add(commands, f"domain: remove… {name}",
                         partial(app.remove_domain, *ids, domain.hostname),
                         "type the host name to confirm", ids)
                if domain.id != env.primary_domain_id:
                    self.add(commands, f"domain: make primary… {name}",
                             partial(app.make_primary_domain, *ids, domain.hostname),
                             "WordPress's URLs move to it (asks first)", ids)
        return commands


class StorageCommands(_DomainProvider):
    def build(self) -> list[Command]:
        return [("storage: test", self.console.test_storage,
                 "write, read and delete a probe object in the backup bucket")]


class JobCommands(_DomainProvider):
    def build(self) -> list[Command]:
        app = self.console
        commands: list[Command] = []
        for job in app.core.jobs.list(app.token or "", limit=100):
            label = f"{job.id[:8]} {job.job_type} ({job.status})"
            commands.append((f"job: open {label}", partial(app.open_jobs, job_id=job.id),
                             "show its log"))
            if job.status in ("queued", "running"):
                commands.append((f"job: cancel {label}", partial(app.cancel_job, job),
                                 "asks for confirmation"))
        return commands


class NodeCommands(_DomainProvider):
    def build(self) -> list[Command]:
        app = self.console
        commands: list[Command] = [("node: show SSH key", app.action_show_key,
                                    "the key to install on nodes"),
                                   ("node: add…", app.action_add_node,
                                    "register a server over SSH and check it")]
        for node in app.core.nodes.list(app.token or ""):
            commands.append((f"node: open {node.name}", partial(app.open_node, node.id),
                             node.hostname))
            commands.append((f"node: check {node.name}", partial(app.check_node, node.id),
                             "connect and record reachability"))
            commands.append((f"node: provision {node.name}",
                             partial(app.provision_node, node.id),
                             "install and configure the WordPress stack (asks first)"))
            commands.append((f"node: forget host key {node.name}",
                             partial(app.forget_host_key, node.id),
                             "accept a changed SSH host key (asks first)"))
            commands.append((f"node: get preview certificate {node.name}",
                             partial(app.get_preview_certificate, node.id),
                             "the wildcard *.<preview_domain> through ACME DNS-01"))
            commands.append((f"node: set public IP {node.name}",
                             partial(app.edit_node_ip, node.id), node.public_ip or "none"))
            if node.status != "decommissioned" and not node.is_local:
                commands.append((f"node: decommission {node.name}",
                                 partial(app.decommission_node, node.id),
                                 "out of service for good (type its name)"))
        return commands


class SettingCommands(_DomainProvider):
    def build(self) -> list[Command]:
        app = self.console
        return [(f"setting: edit {value.key}", partial(app.edit_setting, value.key),
                 value.description) for value in app.core.settings.list(app.token or "")]


PROVIDERS = {NavigationCommands, SiteCommands, EnvironmentCommands, BackupCommands,
             DomainCommands, StorageCommands, JobCommands, NodeCommands, SettingCommands}
