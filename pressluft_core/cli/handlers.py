"""One function per CLI command; each opens the installation and calls one service."""

from __future__ import annotations

import argparse
import getpass
import sys

from pressluft_core.app import Pressluft
from pressluft_core.cli import output
from pressluft_core.errors import ValidationError
from pressluft_core.records import NodeRecord
from pressluft_core.services.sites import find_site
from pressluft_core.session_store import clear_token, load_token, save_token


def _open(args: argparse.Namespace) -> Pressluft:
    return Pressluft.open(args.home)


def _session(args: argparse.Namespace) -> tuple[Pressluft, str]:
    app = _open(args)
    return app, load_token(app.rt.paths)


def _read_password(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise ValidationError("password", "no terminal to prompt on: use --password-stdin")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise ValidationError("password", "the two passwords differ")
    return password


def init(args: argparse.Namespace) -> None:
    app = _open(args)
    paths = app.rt.paths
    info = {"data_dir": str(paths.data_dir), "database": app.database_location,
            "backend": app.backend, "secrets_dir": str(paths.secrets_dir),
            "has_admin": app.auth.has_admin()}
    if args.json:
        output.emit_json(info)
        return
    output.fields(info)
    if not info["has_admin"]:
        print("next: pressluft admin create --email you@example.com --name 'Your Name'")


def admin_create(args: argparse.Namespace) -> None:
    app = _open(args)
    password = _read_password(args.password_stdin, confirm=True)
    user = app.auth.create_admin(args.email, args.name, password)
    print(f"admin {user.email} created; next: pressluft login --email {user.email}")


def login(args: argparse.Namespace) -> None:
    app = _open(args)
    token, user = app.auth.login(args.email, _read_password(args.password_stdin, False))
    save_token(app.rt.paths, token)
    print(f"logged in as {user.email} (session valid for 24 h)")


def logout(args: argparse.Namespace) -> None:
    app, token = _session(args)
    app.auth.logout(token)
    clear_token(app.rt.paths)
    print("logged out")


def settings_get(args: argparse.Namespace) -> None:
    app, token = _session(args)
    values = [app.settings.get(token, args.key)] if args.key else app.settings.list(token)
    if args.json:
        output.emit_json(values)
        return
    output.table(((v.key, v.value if v.is_set else "(unset)",
                   "default" if v.is_default and v.is_set else "", v.description)
                  for v in values), ["key", "value", "", "description"])


def settings_set(args: argparse.Namespace) -> None:
    app, token = _session(args)
    if args.unset:
        value = None
    elif args.value is None:
        raise ValidationError("value", "give a value, - to read it from stdin, or --unset")
    elif args.value == "-":
        value = sys.stdin.read().rstrip("\n")
    else:
        value = args.value
    result = app.settings.set(token, args.key, value)
    print(f"{result.key} = {result.value if result.is_set else '(unset)'}")


def node_forget_host_key(args: argparse.Namespace) -> None:
    app, token = _session(args)
    node = app.nodes.forget_host_key(token, args.name)
    print(f"node {node.name}: recorded host key cleared; the next connection records the "
          "key the node offers")


def node_set(args: argparse.Namespace) -> None:
    app, token = _session(args)
    node = app.nodes.update(token, args.name, public_ip=args.public_ip)
    if args.json:
        output.emit_json(node)
    else:
        print(f"node {node.name}: public IP {node.public_ip or '(none)'}")


def node_list(args: argparse.Namespace) -> None:
    app, token = _session(args)
    nodes = app.nodes.list(token)
    if args.json:
        output.emit_json(nodes)
        return
    output.table(((n.name, n.hostname, n.ssh_port, n.ssh_user, n.public_ip, n.status,
                   "yes" if n.is_local else "", n.os_release, stack_versions(n),
                   n.last_seen_at) for n in nodes),
                 ["name", "hostname", "port", "user", "public ip", "status", "local", "os",
                  "stack", "last seen"])


def stack_versions(node: NodeRecord) -> str:
    """``PHP 8.2.26, MariaDB 10.11.11, nginx 1.22.1``: what the last check read."""
    parts = [(label, value) for label, value in (
        ("PHP", node.php_version), ("MariaDB", node.mariadb_version),
        ("nginx", node.nginx_version)) if value]
    return ", ".join(f"{label} {value}" for label, value in parts)


def site_list(args: argparse.Namespace) -> None:
    app, token = _session(args)
    sites = app.sites.list(token)
    if args.json:
        output.emit_json(sites)
        return
    output.table(((s.slug, s.name, s.status, s.created_at) for s in sites),
                 ["slug", "name", "status", "created"])


def env_list(args: argparse.Namespace) -> None:
    app, token = _session(args)
    envs = app.environments.list(token, args.site)
    if args.json:
        output.emit_json(envs)
        return
    slugs = {s.id: s.slug for s in app.sites.list(token)}
    nodes = {n.id: n.name for n in app.nodes.list(token)}
    output.table(((slugs.get(e.site_id, e.site_id), e.slug, e.environment_type, e.status,
                   nodes.get(e.node_id, e.node_id), e.preview_url, e.drift_status)
                  for e in envs), ["site", "env", "type", "status", "node", "url", "drift"])


def jobs_list(args: argparse.Namespace) -> None:
    app, token = _session(args)
    site_id = find_site(args.site).id if args.site else None
    jobs = app.jobs.list(token, status=args.status, site_id=site_id, job_type=args.job_type,
                         limit=args.limit)
    if args.json:
        output.emit_json(jobs)
        return
    output.table(((j.id[:8], j.job_type, j.status, j.attempt_count, j.created_at,
                   j.error_code) for j in jobs),
                 ["id", "type", "status", "attempts", "created", "error"])


def jobs_show(args: argparse.Namespace) -> None:
    app, token = _session(args)
    job = app.jobs.get(token, args.job_id)
    if args.json:
        output.emit_json(job)
    else:
        output.fields(job)
