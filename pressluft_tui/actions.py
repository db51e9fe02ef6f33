"""The one table of what the operator can do.

Each :class:`Action` is declared once: its id, what it does, the controller call, the
palette title (``env: deploy…``, completed with the object it names) and the keys that
run it on which screen. Screens take their key bindings from here (:func:`bindings`), the
command palette its providers (:mod:`pressluft_tui.commands`), and the app runs an action
by id (:func:`perform`) — so a key and a palette entry cannot drift apart.

A key runs its action on the screen's :class:`~pressluft_tui.context.Selection` (its
subject and selected row); a palette command on the object it names. Table order is the
order of the keys in each footer and of the commands in the palette.

This module imports no screen and no controller at run time, so screens can import it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from pressluft_tui.context import NothingSelected, Selection

if TYPE_CHECKING:
    from pressluft_tui.controllers import Controllers

Run = Callable[["Controllers", Selection], object]


@dataclass(frozen=True)
class Key:
    """A key binding of an action on one screen (or ``backups-table``, whose keys act on
    the screen it is in)."""

    screen: str
    key: str
    id: str
    description: str
    show: bool = True
    tooltip: str = ""


@dataclass(frozen=True)
class Action:
    id: str
    description: str  # what it does; the palette's help line
    run: Run
    title: str | None = None  # the palette title (None: not in the palette)
    subject: str | None = None  # the palette lists it once per site, environment, …
    keys: tuple[Key, ...] = ()
    when: Callable[[Any], bool] | None = None  # the palette: only for these objects
    detail: Callable[[Any], str] | None = None  # the palette's help line, per object


def _production(env: Any) -> bool:
    return bool(env.environment_type == "production")


def _asks(text: str, production_note: str = " (asks first)") -> Callable[[Any], str]:
    return lambda env: text + (production_note if _production(env) else "")


def _not_production(env: Any) -> bool:
    return not _production(env)


def env_action(id: str, title: str, description: str, run: Run, *keys: Key,
               **options: Any) -> Action:
    """An action on one environment: ``env: <title> acme/staging`` in the palette."""
    return Action(id, description, run, f"env: {title}", "environment", keys, **options)


def node_action(id: str, title: str, description: str, run: Run, *keys: Key,
                **options: Any) -> Action:
    return Action(id, description, run, f"node: {title}", "node", keys, **options)


def go(id: str, title: str, description: str, run: Run, *keys: Key) -> Action:
    return Action(id, description, run, title, None, keys)


IMPORT_TIP = "a new site from a .tar.gz/.tar.zst archive (URL or path)"

ACTIONS: tuple[Action, ...] = (
    go("go.sites", "go: sites", "the home screen", lambda c, s: c.navigation.show_home()),
    go("site.create", "site: create…", "new site + production",
       lambda c, s: c.sites.new_site(), Key("sites", "n", "sites.new", "New site")),
    Action("site.open", "the site's environments",
           lambda c, s: c.navigation.open_site(s.need("site_id")), "site: open", "site",
           detail=lambda site: site.name),
    env_action("env.clone", "clone…", "a staging copy or a clone of it",
               lambda c, s: c.environments.clone(*s.env()),
               Key("site", "c", "site.clone", "Clone…"),
               Key("environment", "c", "env.clone", "Clone…")),
    Action("site.jobs", "jobs of this site",
           lambda c, s: c.navigation.open_jobs(site_id=s.need("site_id")), "site: jobs",
           "site", (Key("site", "j", "site.jobs", "Site jobs"),)),
    go("site.import", "site: import…", "a new site from a .tar.gz/.tar.zst archive (URL or "
       "a path here)", lambda c, s: c.sites.import_site(),
       Key("sites", "i", "sites.import", "Import…", tooltip=IMPORT_TIP),
       Key("site", "i", "site.import", "Import…", tooltip=IMPORT_TIP)),
    go("go.jobs", "go: jobs", "all jobs with their live log",
       lambda c, s: c.navigation.open_jobs(), Key("sites", "j", "sites.jobs", "Jobs")),
    go("go.nodes", "go: nodes", "hosts and their reachability",
       lambda c, s: c.navigation.open_nodes(), Key("sites", "o", "sites.nodes", "Nodes")),
    go("go.settings", "go: settings", "storage, domains, ACME",
       lambda c, s: c.navigation.open_settings(),
       Key("sites", "s", "sites.settings", "Settings")),
    go("go.certificates", "go: certificates",
       "every certificate on every node, soonest expiry first",
       lambda c, s: c.navigation.open_certificates(),
       Key("sites", "c", "sites.certificates", "Certificates")),
    go("go.audit", "go: audit log", "every change, refusals too",
       lambda c, s: c.navigation.open_audit(), Key("sites", "a", "sites.audit", "Audit log")),
    go("session.logout", "session: log out", "revoke this console's session; jobs go on",
       lambda c, s: c.navigation.log_out()),
    # -- one environment (the environment screen's keys) -----------------------------------
    Action("env.open", "its tabs: overview, releases, backups, domains, drift",
           lambda c, s: c.navigation.open_environment(*s.env())),
    env_action("env.deploy", "deploy…", "from git or an archive",
               lambda c, s: c.environments.deploy(*s.env()),
               Key("environment", "d", "env.deploy", "Deploy…"),
               detail=_asks("from git or an archive")),
    env_action("env.rollback", "rollback", "to the previous healthy release",
               lambda c, s: c.environments.rollback(*s.env()),
               Key("environment", "b", "env.rollback", "Roll back",
                   tooltip="to the previous healthy release; in the Backups tab b backs up"),
               detail=_asks("to the previous healthy release")),
    Action("backup.create", "full, db or files", lambda c, s: c.backups.create(*s.env()),
           "backup: create…", "environment",
           (Key("environment", "b", "env.backup", "Back up…",
                tooltip="in the Backups tab only (elsewhere b rolls back): a full, "
                        "database or files backup to the storage"),)),
    env_action("env.health", "health check", "load the site and record it",
               lambda c, s: c.environments.check_health(*s.env()),
               Key("environment", "h", "env.health", "Health")),
    env_action("env.login", "WordPress login", "reveal it (audited)",
               lambda c, s: c.environments.show_login(*s.env()),
               Key("environment", "w", "env.login", "WP login")),
    env_action("env.releases", "releases", "newest first, the current one marked",
               lambda c, s: c.navigation.show_releases(*s.env())),
    env_action("env.update", "update…", "core, plugins, themes or all",
               lambda c, s: c.maintenance.update(*s.env()),
               Key("environment", "u", "env.update", "Update…",
                   tooltip="WordPress core, plugins, themes or all, with automatic "
                           "rollback"), detail=_asks("core, plugins, themes or all")),
    env_action("env.promote", "promote…", "to production: drift check, plan, confirmation",
               lambda c, s: c.promotion.promote(*s.env()),
               Key("environment", "p", "env.promote", "Promote…",
                   tooltip="staging/clone to production: drift check, plan, confirmation"),
               when=_not_production),
    env_action("env.drift", "drift check", "production now against its baseline",
               lambda c, s: c.promotion.check_drift(*s.env()),
               Key("environment", "k", "env.drift", "Check drift", show=False,
                   tooltip="compare production now with this environment's clone baseline"),
               when=_not_production),
    env_action("env.schedule", "backup schedule…", "daily, off or the default",
               lambda c, s: c.maintenance.set_backup_schedule(*s.env()),
               Key("environment", "s", "env.schedule", "Backup schedule…", show=False,
                   tooltip="daily, off or the default (production daily)")),
    env_action("env.deploy_plan", "deploy plan…",
               "what a deploy would add, replace and keep; nothing is switched",
               lambda c, s: c.environments.plan_deploy(*s.env()),
               Key("environment", "D", "env.deploy_plan", "Deploy plan…", show=False,
                   tooltip="what a deploy would add, replace and keep; nothing is "
                           "switched")),
    env_action("env.health_text", "health check text…",
               "what the front page must show (default: the site's title)",
               lambda c, s: c.maintenance.set_health_text(*s.env()),
               Key("environment", "e", "env.health_text", "Health check text…", show=False,
                   tooltip="text the health check expects on the front page (default: "
                           "title)")),
    env_action("env.preview_url", "regenerate preview URL…",
               "move to the preview URL the settings give now (asks first)",
               lambda c, s: c.maintenance.regenerate_preview_url(*s.env()),
               Key("environment", "g", "env.preview_url", "New preview URL…", show=False,
                   tooltip="move to the preview URL the settings give now (asks first)")),
    env_action("env.move", "move to node…",
               "streamed to another node, health-checked there, switched",
               lambda c, s: c.fleet.move(*s.env()),
               Key("environment", "M", "env.move", "Move to node…", show=False,
                   tooltip="stream it to another node, health-check it there, switch (URLs "
                           "unchanged; DNS is yours to change)"),
               detail=_asks("streamed to another node, health-checked there, switched",
                            " (type its slug)")),
    env_action("env.remove_old_copy", "remove old copy…",
               "the copy a move left on the node it came from",
               lambda c, s: c.fleet.remove_old_copy(*s.env()),
               Key("environment", "O", "env.remove_old_copy", "Remove old copy…",
                   show=False, tooltip="after a move: the copy left on the node it came "
                                       "from"),
               when=lambda env: bool(env.previous_node_id)),
    env_action("env.delete", "delete…", "backup first; type its slug",
               lambda c, s: c.maintenance.delete(*s.env()),
               Key("environment", "x", "env.delete", "Delete…", show=False,
                   tooltip="staging/clone only: backup first, then typed confirmation; in "
                           "the Domains tab x removes a domain"), when=_not_production),
    # -- domains (a anywhere on the environment screen; m and x in its Domains tab) --------
    Action("domain.add", "DNS check, certificate, nginx; primary or not",
           lambda c, s: c.domains.add(*s.env()), "domain: add…", "environment",
           (Key("environment", "a", "env.domain_add", "Add domain…",
                tooltip="host name, primary or not: DNS check, certificate, nginx"),
            Key("environment", "a", "env.domain_add_elsewhere", "Add domain…", show=False))),
    Action("domain.primary", "WordPress's URLs move to it (asks first)",
           lambda c, s: c.domains.make_primary(*s.env(), s.domain_id),
           "domain: make primary…", "domain",
           (Key("environment", "m", "env.domain_primary", "Make primary…",
                tooltip="the selected domain becomes WordPress's URL (asks first)"),),
           when=lambda pair: pair[0].id != pair[1].primary_domain_id),
    Action("domain.remove", "type the host name to confirm",
           lambda c, s: c.domains.remove(*s.env(), s.domain_id), "domain: remove…", "domain",
           (Key("environment", "x", "env.domain_remove", "Remove domain…",
                tooltip="in the Domains tab only (elsewhere x deletes the environment): "
                        "the selected domain, its host name typed"),)),
    # -- backups (r and v act on the Backups tab's selected row) ---------------------------
    go("backup.cleanup", "backup: cleanup",
       "expired backups marked and their objects deleted (asks first)",
       lambda c, s: c.backups.cleanup()),
    Action("backup.restore", "choose a backup, then where to (asks first)",
           lambda c, s: c.backups.pick(*s.env(), "restore"), "backup: restore…",
           "environment"),
    Action("backup.verify", "restore drill of a backup in a throwaway environment",
           lambda c, s: c.backups.pick(*s.env(), "verify"), "backup: verify…", "environment"),
    Action("backup.restore_selected", "the selected backup, into this or another "
           "environment of the site (asks first)",
           lambda c, s: c.backups.restore(s.need("site_id"), s.need("backup_id")),
           keys=(Key("backups-table", "r", "backups.restore", "Restore…",
                     tooltip="the selected backup, into this or another environment of the "
                             "site (asks first). r restores only on this table; elsewhere r "
                             "refreshes"),)),
    Action("backup.verify_selected", "restore drill of the selected backup",
           lambda c, s: c.backups.verify(s.need("backup_id")),
           keys=(Key("backups-table", "v", "backups.verify", "Verify",
                     tooltip="restore drill of the selected backup: restored into a "
                             "throwaway environment, health-checked, deleted; the verdict "
                             "lands here"),)),
    # -- settings, jobs ----------------------------------------------------------------------
    Action("setting.edit", "change one setting (secrets are write-only)",
           lambda c, s: c.settings.edit_setting(s.need("setting")), "setting: edit",
           "setting", (Key("settings", "e", "settings.edit", "Edit"),),
           detail=lambda value: value.description),
    go("storage.test", "storage: test",
       "write, read and delete a probe object in the backup bucket",
       lambda c, s: c.settings.test_storage(),
       Key("settings", "t", "settings.storage-test", "Test storage",
           tooltip="write, read and delete a probe object in the backup bucket")),
    Action("job.open", "show its log",
           lambda c, s: c.navigation.open_jobs(job_id=s.need("job").id), "job: open", "job"),
    Action("job.cancel", "asks for confirmation",
           lambda c, s: c.jobs.cancel_job(s.need("job")), "job: cancel", "job",
           (Key("jobs", "x", "jobs.cancel", "Cancel job"),),
           when=lambda job: job.status in ("queued", "running")),
    # -- nodes -------------------------------------------------------------------------------
    go("node.add", "node: add…", "register a server over SSH and check it",
       lambda c, s: c.nodes.add_node(), Key("nodes", "n", "nodes.add", "Add node")),
    node_action("node.open", "open", "its environments and certificate",
                lambda c, s: c.navigation.open_node(s.need("node_id")),
                detail=lambda node: node.hostname),
    node_action("node.check", "check", "connect and record reachability",
                lambda c, s: c.nodes.check_node(s.need("node_id")),
                Key("nodes", "c", "nodes.check", "Check node"),
                Key("node", "c", "node.check", "Check node")),
    node_action("node.provision", "provision",
                "install and configure the WordPress stack (asks first)",
                lambda c, s: c.nodes.provision_node(s.need("node_id")),
                Key("nodes", "p", "nodes.provision", "Provision"),
                Key("node", "p", "node.provision", "Provision")),
    go("node.key", "node: show SSH key", "the key to install on nodes",
       lambda c, s: c.navigation.show_key(), Key("nodes", "k", "nodes.key", "SSH key"),
       Key("node", "k", "node.key", "SSH key")),
    node_action("node.forget_host_key", "forget host key",
                "accept a changed SSH host key (asks first)",
                lambda c, s: c.nodes.forget_host_key(s.need("node_id"))),
    node_action("node.ip", "set public IP", "the IPv4 new preview URLs are made from",
                lambda c, s: c.nodes.edit_node_ip(s.need("node_id")),
                Key("node", "e", "node.edit-ip", "Public IP"),
                detail=lambda node: node.public_ip or "none"),
    go("domain.expiry", "domain: check certificate expiry",
       "read every certificate's expiry date from its node now",
       lambda c, s: c.domains.check_certificate_expiry(),
       Key("certificates", "x", "certificates.check", "Check expiry now",
           tooltip="read every certificate's expiry date from its node (also runs daily)")),
    node_action("node.wildcard", "get preview certificate",
                "the wildcard *.<preview_domain> through ACME DNS-01",
                lambda c, s: c.domains.get_preview_certificate(s.need("node_id")),
                Key("certificates", "w", "certificates.wildcard", "Wildcard on node",
                    tooltip="get the wildcard preview certificate on the selected row's "
                            "node (again)"),
                Key("node", "w", "node.wildcard", "Wildcard cert",
                    tooltip="get the wildcard preview certificate *.<preview_domain> "
                            "(again)")),
    node_action("node.decommission", "decommission", "out of service for good (type its "
                "name)", lambda c, s: c.fleet.decommission(s.need("node_id")),
                Key("node", "x", "node.decommission", "Decommission…", show=False,
                    tooltip="out of service for good; refused while environments live "
                            "there"),
                when=lambda node: node.status != "decommissioned" and not node.is_local),
)

BY_ID = {action.id: action for action in ACTIONS}
BY_BINDING = {key.id: action for action in ACTIONS for key in action.keys}


def bindings(screen: str) -> list[Binding]:
    """The key bindings of ``screen``, in table order; each runs ``run('<binding id>')``
    on the screen (``action_run`` in :class:`~pressluft_tui.screens.base.ResourceScreen`).
    """
    target = "screen.run" if screen == "backups-table" else "run"
    return [Binding(key.key, f"{target}({key.id!r})", key.description, show=key.show,
                    tooltip=key.tooltip, id=key.id)
            for action in ACTIONS for key in action.keys if key.screen == screen]


def perform(action_id: str, controllers: Controllers, selection: Selection) -> None:
    """Run an action; one that needs a row the screen has not got does nothing (an empty
    table), as a key on an empty table always did."""
    with contextlib.suppress(NothingSelected):
        BY_ID[action_id].run(controllers, selection)
