"""``pressluft <command>``: argument parsing and error handling.

Expected errors (:class:`PressluftError`) print one sentence to stderr and exit 2 for bad
input or 1 for a failure; nothing expected ever shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pressluft_core.cli import backups, domains, environments, fleet, handlers, promotion, runner
from pressluft_core.errors import PressluftError

Handler = Callable[[argparse.Namespace], int | None]


def _add(sub: argparse._SubParsersAction, name: str, handler: Handler, help: str,
         json_output: bool = False) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pressluft",
        description="Self-hosted WordPress hosting control plane. "
        "Without a command, opens the console.",
    )
    parser.add_argument("--home", help="data directory (default: $PRESSLUFT_HOME or the "
                                       "platform's user data dir)")
    groups = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add(groups, "init", handlers.init, "create the database and data directories",
         json_output=True)

    admin = groups.add_parser("admin", help="manage the admin user").add_subparsers(
        dest="admin_command", required=True, metavar="ACTION")
    create = _add(admin, "create", handlers.admin_create, "create the admin user")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input")

    login = _add(groups, "login", handlers.login, "log in and keep the session for the CLI")
    login.add_argument("--email", required=True)
    login.add_argument("--password-stdin", action="store_true")
    _add(groups, "logout", handlers.logout, "end the CLI's session")

    settings = groups.add_parser("settings", help="operator settings").add_subparsers(
        dest="settings_command", required=True, metavar="ACTION")
    get = _add(settings, "get", handlers.settings_get, "show settings", json_output=True)
    get.add_argument("key", nargs="?")
    put = _add(settings, "set", handlers.settings_set,
               "set a setting (secrets: pass - and give the value on stdin)")
    put.add_argument("key")
    put.add_argument("value", nargs="?", help="new value; - reads stdin; omit with --unset")
    put.add_argument("--unset", action="store_true", help="back to the default")

    node = groups.add_parser("node", help="nodes").add_subparsers(
        dest="node_command", required=True, metavar="ACTION")
    add = _add(node, "add", runner.node_add, "register a node and check it", json_output=True)
    add.add_argument("name")
    add.add_argument("--hostname", required=True)
    add.add_argument("--port", type=int, default=22)
    add.add_argument("--user", default="root")
    add.add_argument("--public-ip")
    add.add_argument("--local", action="store_true", help="this host runs the control plane")
    add.add_argument("--no-check", action="store_true", help="register without connecting")
    _add(node, "list", handlers.node_list, "list nodes", json_output=True)
    check = _add(node, "check", runner.node_check, "check that a node is reachable",
                 json_output=True)
    check.add_argument("name", help="node id or name")
    prov = _add(node, "provision", runner.node_provision,
                "install and configure the WordPress stack on a node (idempotent)")
    prov.add_argument("name", help="node id or name")
    prov.add_argument("--sites-root", help="where sites live on the node "
                      "(default /var/www/sites)")
    _add(node, "key", runner.node_key, "print the SSH public key to install on nodes")
    forget = _add(node, "forget-host-key", handlers.node_forget_host_key,
                  "accept a node's changed SSH host key (after checking its fingerprint)")
    forget.add_argument("name", help="node id or name")
    nset = _add(node, "set", handlers.node_set, "change a node's public IP", json_output=True)
    nset.add_argument("name", help="node id or name")
    nset.add_argument("--public-ip", required=True, help="IPv4; empty string to clear it")

    site = groups.add_parser("site", help="sites").add_subparsers(
        dest="site_command", required=True, metavar="ACTION")
    _add(site, "list", handlers.site_list, "list sites", json_output=True)

    env = groups.add_parser("env", help="environments").add_subparsers(
        dest="env_command", required=True, metavar="ACTION")
    elist = _add(env, "list", handlers.env_list, "list environments", json_output=True)
    elist.add_argument("--site", help="site id or slug")
    environments.add_commands(_add, site, env)
    fleet.add_commands(_add, node, env)
    promotion.add_commands(_add, env)
    backups.add_commands(_add, groups)
    domains.add_commands(_add, groups)

    job = groups.add_parser("jobs", help="jobs").add_subparsers(
        dest="jobs_command", required=True, metavar="ACTION")
    jlist = _add(job, "list", handlers.jobs_list, "list jobs", json_output=True)
    jlist.add_argument("--status")
    jlist.add_argument("--site", help="site id or slug")
    jlist.add_argument("--type", dest="job_type")
    jlist.add_argument("--limit", type=int, default=50)
    jshow = _add(job, "show", handlers.jobs_show, "show one job", json_output=True)
    jshow.add_argument("job_id", help="job id or a unique prefix of it")
    jfollow = _add(job, "follow", runner.jobs_follow, "print a job's log live until it ends")
    jfollow.add_argument("job_id")
    jcancel = _add(job, "cancel", runner.jobs_cancel, "cancel a queued or running job")
    jcancel.add_argument("job_id")

    work = _add(groups, "worker", runner.worker, "run the job worker daemon")
    work.add_argument("--until-empty", action="store_true",
                      help="exit once no job is queued or running")
    work.add_argument("--poll", type=float, default=2.0, help="poll interval, seconds")
    work.add_argument("--lease", type=float, default=60.0, help="job lease, seconds")
    work.add_argument("--concurrency", type=int, default=8)
    work.add_argument("--shutdown-grace", type=float, default=30.0,
                      help="seconds running jobs get to finish on SIGTERM")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        print("pressluft: no command given; run `pressluft --help`", file=sys.stderr)
        return 2
    try:
        return args.handler(args) or 0
    except PressluftError as exc:
        print(f"pressluft: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("pressluft: interrupted", file=sys.stderr)
        return 130
