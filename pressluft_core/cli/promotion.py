"""``pressluft env drift`` and ``pressluft env promote [--plan]``: the same services the
console calls."""

from __future__ import annotations

import argparse

from pressluft_core.cli import output
from pressluft_core.cli.environments import _queued, _site_env, _wait
from pressluft_core.cli.handlers import _session
from pressluft_core.wordpress.drift import DriftReport, PathChange, TableChange


def env_drift(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.promotion.drift(token, args.site, args.env)
    return _queued(app, job, args, f"drift check of {args.site}/{args.env}")


def report_lines(report: dict | None) -> list[str]:
    if not report:
        return ["(no drift report yet)"]
    return DriftReport(
        report["status"], [TableChange(**t) for t in report.get("protected", [])],
        [PathChange(**p) for p in report.get("paths", [])],
        [TableChange(**t) for t in report.get("overwritten", [])]).lines()


def env_promote(args: argparse.Namespace) -> int:
    app, token = _session(args)
    if args.plan:
        plan = app.promotion.plan(token, args.site, args.env)
        if args.json:
            output.emit_json(plan)
            return 0
        print(f"promote {plan['source']} -> {plan['target']} ({plan['preset']})")
        print(f"drift: {plan['drift_status']} (checked {plan['drift_checked_at'] or 'never'})")
        for line in report_lines(plan["report"]):
            print(f"  {line}")
        print(f"copied tables: {', '.join(plan['copied_tables']) or '(none known yet)'}")
        print(f"protected tables: {', '.join(plan['protected_tables'])}")
        print(f"protected paths: {', '.join(plan['protected_paths'])}")
        print(f"backup: {plan['backup']}")
        print(f"release: {plan['release']}")
        if plan["blocked_by"]:
            print(f"blocked: {plan['blocked_by']}")
        elif plan["needs_typed_confirmation"]:
            print(f"production drifted: promote with --confirm {args.site}")
        return 0
    job = app.promotion.promote(token, args.site, args.env, confirm=args.confirm)
    return _queued(app, job, args, f"promotion of {args.site}/{args.env}")


def add_commands(add, env) -> None:  # type: ignore[no-untyped-def]
    drift = add(env, "drift", env_drift, "compare production now with this environment's "
                "clone-time baseline", json_output=True)
    _site_env(drift)
    _wait(drift)
    promote = add(env, "promote", env_promote, "promote this staging/clone environment to "
                  "production (protected tables and uploads are never touched)",
                  json_output=True)
    _site_env(promote)
    promote.add_argument("--plan", action="store_true", help="show what would happen; "
                         "change nothing")
    promote.add_argument("--confirm", metavar="SITE_SLUG", help="the site's slug, typed "
                         "again: needed when production drifted")
    _wait(promote)
