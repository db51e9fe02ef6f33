"""``pressluft env move|move-cleanup`` and ``pressluft node decommission``: the fleet's
commands (issue 14), over the same services the console calls."""

from __future__ import annotations

import argparse

from pressluft_core.cli import output
from pressluft_core.cli.environments import _queued, _site_env, _wait
from pressluft_core.cli.handlers import _session


def env_move(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.moves.move(token, args.site, args.env, to=args.to, confirm=args.confirm)
    return _queued(app, job, args, f"move of {args.site}/{args.env} to {args.to}")


def env_move_cleanup(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.moves.cleanup(token, args.site, args.env)
    return _queued(app, job, args, f"removal of {args.site}/{args.env}'s old copy")


def node_decommission(args: argparse.Namespace) -> None:
    app, token = _session(args)
    node = app.nodes.decommission(token, args.name)
    if args.json:
        output.emit_json(node)
    else:
        print(f"node {node.name}: decommissioned; no job will run on it again")


def add_commands(add, node, env) -> None:  # type: ignore[no-untyped-def]
    move = add(env, "move", env_move, "move an environment to another node: files and "
               "database streamed, URLs unchanged, health-checked there, then switched "
               "(DNS stays yours to change; the old copy stays until move-cleanup)",
               json_output=True)
    _site_env(move)
    move.add_argument("--to", required=True, metavar="NODE", help="node id or name")
    move.add_argument("--confirm", metavar="SLUG",
                      help="production only: the environment's slug, typed to confirm")
    _wait(move)
    cleanup = add(env, "move-cleanup", env_move_cleanup, "remove the old copy a move left "
                  "on the node the environment came from", json_output=True)
    _site_env(cleanup)
    _wait(cleanup)
    decommission = add(node, "decommission", node_decommission, "take a node out of service "
                       "for good (refused while environments or old copies live there)",
                       json_output=True)
    decommission.add_argument("name", help="node id or name")
