"""``pressluft site create`` and ``pressluft env clone|deploy|rollback|health|releases|
login``: the same services the console calls. Jobs are queued for the worker; ``--wait``
runs the job here at once, its log printed live, and exits 0 only when it succeeded."""

from __future__ import annotations

import argparse
import sys

from pressluft_core.app import Pressluft
from pressluft_core.cli import output
from pressluft_core.cli.handlers import _session
from pressluft_core.cli.runner import run_now
from pressluft_core.errors import ValidationError
from pressluft_core.records import JobRecord


def _queued(app: Pressluft, job: JobRecord, args: argparse.Namespace, what: str) -> int:
    if not args.wait:
        if args.json:
            output.emit_json(job)
        else:
            print(f"{what}: job {job.id} ({job.job_type}) queued; follow it with "
                  f"`pressluft jobs follow {job.id[:8]}`")
        return 0
    final = run_now(app, job, show_output=not args.json)
    if args.json:
        output.emit_json(final)
    elif final.status == "succeeded":
        print(f"{what}: done")
    else:
        first = (final.error_message or final.status).splitlines()[0]
        print(f"{what}: {final.status} ({final.error_code}) — {first}", file=sys.stderr)
    return 0 if final.status == "succeeded" else 1


def site_create(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.sites.create(token, args.name, args.slug, node=args.node,
                           promotion_preset=args.preset, admin_email=args.admin_email)
    code = _queued(app, job, args, f"site {args.slug}")
    if args.wait and code == 0 and not args.json:
        env = app.environments.get(token, args.slug, "production")
        print(f"{env.preview_url}  (admin login: `pressluft env login {args.slug} "
              "production`)")
    return code


def site_import(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.sites.import_site(token, args.name, args.slug, args.source, node=args.node,
                                promotion_preset=args.preset)
    return _queued(app, job, args, f"import of {args.source} as {args.slug}")


def env_clone(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.environments.clone(token, args.site, args.source, args.name or args.slug,
                                 args.slug, environment_type=args.type,
                                 quarantine=not args.no_quarantine, cron=args.cron,
                                 expires_in_hours=args.expires_in, node=args.node)
    return _queued(app, job, args, f"clone {args.site}/{args.slug}")


def env_deploy(args: argparse.Namespace) -> int:
    app, token = _session(args)
    if args.allow_missing is not None and args.allow_missing != args.site:
        raise ValidationError("allow_missing", f"type the site's slug ({args.site}) to "
                                               "allow a release without the active theme or "
                                               "plugins")
    if args.plan:
        job = app.environments.plan_deploy(token, args.site, args.env, git_url=args.git,
                                           git_ref=args.ref, archive=args.archive,
                                           into=args.into)
        return _queued(app, job, args, f"deploy plan for {args.site}/{args.env}")
    job = app.environments.deploy(token, args.site, args.env, git_url=args.git,
                                  git_ref=args.ref, archive=args.archive, into=args.into,
                                  allow_missing=args.allow_missing is not None)
    return _queued(app, job, args, f"deploy {args.site}/{args.env}")


def env_health_text(args: argparse.Namespace) -> int:
    app, token = _session(args)
    record = app.environments.set_health_text(token, args.site, args.env, args.text)
    print(f"health check of {args.site}/{args.env} looks for "
          f"{record.health_expected_text or 'the site title'!r} on the front page")
    return 0


def env_rollback(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.environments.rollback(token, args.site, args.env)
    return _queued(app, job, args, f"rollback {args.site}/{args.env}")


def env_health(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.environments.health(token, args.site, args.env)
    return _queued(app, job, args, f"health {args.site}/{args.env}")


def env_regenerate_preview_url(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.environments.regenerate_preview_url(token, args.site, args.env)
    return _queued(app, job, args, f"new preview URL for {args.site}/{args.env}: "
                                   f"{job.payload['preview_url']}")


def env_update(args: argparse.Namespace) -> int:
    app, token = _session(args)
    packages = [("plugin", path) for path in args.plugin or []] + \
        [("theme", path) for path in args.theme or []]
    job = app.environments.update(token, args.site, args.env, args.scope,
                                  packages=packages, override=args.override)
    return _queued(app, job, args, f"update {args.site}/{args.env}")


def env_delete(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.environments.delete(token, args.site, args.env, confirm=args.confirm,
                                  without_backup=args.without_backup)
    return _queued(app, job, args, f"delete {args.site}/{args.env}")


def env_schedule(args: argparse.Namespace) -> int:
    app, token = _session(args)
    env = app.environments.set_backup_schedule(token, args.site, args.env, args.schedule)
    if args.json:
        output.emit_json(env)
    else:
        print(f"{args.site}/{env.slug}: backups {env.backup_schedule or 'default'}")
    return 0


def env_releases(args: argparse.Namespace) -> int:
    app, token = _session(args)
    env = app.environments.get(token, args.site, args.env)
    releases = app.environments.releases(token, args.site, args.env)
    if args.json:
        output.emit_json(releases)
        return 0
    output.table(((("*" if r.id == env.current_release_id else "") + r.path.rsplit("/", 1)[-1],
                   r.source_type, r.source_ref, r.health_status, r.created_at)
                  for r in releases), ["release", "source", "ref", "health", "created"])
    return 0


def env_login(args: argparse.Namespace) -> int:
    app, token = _session(args)
    login = app.environments.login(token, args.site, args.env)
    if args.json:
        output.emit_json(login)
    else:
        print(f"url:      {login['url']}\nuser:     {login['user']}\n"
              f"password: {login['password']}")
    return 0


def _site_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("site", help="site id or slug")
    parser.add_argument("env", help="environment id or slug")


def _wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="run the job now and print its log (exit 1 if it fails)")


def add_commands(add, site, env) -> None:  # type: ignore[no-untyped-def]
    """Register the commands on the ``site`` and ``env`` sub-parsers (``add`` is main's
    helper that makes one command)."""
    create = add(site, "create", site_create, "create a site and its production environment",
                 json_output=True)
    create.add_argument("name")
    create.add_argument("--slug", required=True)
    create.add_argument("--node", help="node id or name (default: the local node)")
    create.add_argument("--preset", default="content-protect",
                        choices=["content-protect", "commerce-protect"])
    create.add_argument("--admin-email")
    _wait(create)

    imported = add(site, "import", site_import, "create a site from an archive (.tar.gz or "
                   ".tar.zst: db.sql, files/, optional meta.json; a Pressluft backup imports "
                   "as is), validated on the node before anything changes", json_output=True)
    imported.add_argument("name")
    imported.add_argument("--slug", required=True)
    imported.add_argument("--source", required=True, metavar="URL|PATH",
                          help="http(s) URL or a path on this machine")
    imported.add_argument("--node", help="node id or name (default: the local node)")
    imported.add_argument("--preset", default="content-protect",
                          choices=["content-protect", "commerce-protect"])
    _wait(imported)

    clone = add(env, "clone", env_clone, "clone an environment into a new staging or clone "
                "environment (quarantined: mail captured, noindex, WP-Cron off)",
                json_output=True)
    clone.add_argument("site", help="site id or slug")
    clone.add_argument("source", help="environment to copy (id or slug)")
    clone.add_argument("--slug", required=True, help="slug of the new environment")
    clone.add_argument("--name", help="display name (default: the slug)")
    clone.add_argument("--node", help="node id or name to clone onto (default: the "
                       "source's node; another node gets the copy streamed over)")
    clone.add_argument("--type", default="staging", choices=["staging", "clone"])
    clone.add_argument("--no-quarantine", action="store_true",
                       help="send mail, allow indexing and run WP-Cron like the source")
    clone.add_argument("--cron", action="store_true", help="keep WP-Cron on in quarantine")
    clone.add_argument("--expires-in", type=int, metavar="HOURS",
                       help="delete the environment after this many hours")
    _wait(clone)

    deploy = add(env, "deploy", env_deploy, "deploy a new release from git or an archive "
                 "(health-checked; rolled back automatically when unhealthy)",
                 json_output=True)
    _site_env(deploy)
    source = deploy.add_mutually_exclusive_group(required=True)
    source.add_argument("--git", metavar="URL", help="repository laid out like wp-content: "
                        "each theme, plugin and mu-plugin in it replaces its namesake, the "
                        "rest is kept")
    source.add_argument("--archive", metavar="PATH", help=".tar.gz, .tar.zst or .zip laid "
                        "out like wp-content")
    deploy.add_argument("--ref", help="branch, tag or commit (default main)")
    deploy.add_argument("--into", metavar="themes/NAME", help="the repository is one theme "
                        "or plugin: where it goes (themes/NAME, plugins/NAME, "
                        "mu-plugins/NAME)")
    deploy.add_argument("--plan", action="store_true", help="only list what the release "
                        "would add, replace and keep (built aside, nothing switched; with "
                        "--wait the list is printed)")
    deploy.add_argument("--allow-missing", metavar="SITE", help="deploy even when the "
                        "release lacks the active theme or an active plugin (type the site's "
                        "slug)")
    _wait(deploy)
    text = add(env, "health-text", env_health_text, "text the health check expects on the "
               "front page (empty: the site's title)")
    _site_env(text)
    text.add_argument("text", help="the text, or '' for the site's title")

    for name, handler, text in (
            ("rollback", env_rollback, "switch back to the previous healthy release"),
            ("health", env_health, "check HTTP 200, WordPress installed and the database"),
            ("regenerate-preview-url", env_regenerate_preview_url, "move the environment to "
             "the preview URL the settings give now (https://<8>.<preview_domain>, or "
             "sslip.io): nginx, and WordPress's URLs when it answers there")):
        parser = add(env, name, handler, text, json_output=True)
        _site_env(parser)
        _wait(parser)
    update = add(env, "update", env_update, "update WordPress core, plugins or themes with "
                 "WordPress's upgrader (database backup first; release and database rolled "
                 "back when unhealthy)", json_output=True)
    _site_env(update)
    update.add_argument("--scope", default="all", choices=["core", "plugins", "themes", "all"])
    update.add_argument("--plugin", action="append", metavar="ZIP",
                        help="install/upgrade this plugin zip instead (repeatable)")
    update.add_argument("--theme", action="append", metavar="ZIP",
                        help="install/upgrade this theme zip instead (repeatable)")
    update.add_argument("--override", action="store_true", help="update production although "
                        "the same update has not succeeded elsewhere in the last 7 days")
    _wait(update)
    delete = add(env, "delete", env_delete, "delete a staging or clone environment (a full "
                 "backup is taken first)", json_output=True)
    _site_env(delete)
    delete.add_argument("--confirm", required=True, metavar="SLUG",
                        help="the environment's slug, typed again")
    delete.add_argument("--without-backup", action="store_true",
                        help="skip the backup (the environment's data is gone for good)")
    _wait(delete)
    schedule = add(env, "schedule", env_schedule, "scheduled full backups: daily, off, or "
                   "default (production daily, others off) at the backup_hour setting",
                   json_output=True)
    _site_env(schedule)
    schedule.add_argument("schedule", choices=["daily", "off", "default"])
    releases = add(env, "releases", env_releases, "list releases, newest first (* current)",
                   json_output=True)
    _site_env(releases)
    login = add(env, "login", env_login, "show the WordPress admin login (audited)",
                json_output=True)
    _site_env(login)
