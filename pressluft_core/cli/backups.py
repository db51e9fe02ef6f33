"""``pressluft backup create|list|restore|cleanup`` and ``pressluft storage test``: the
same services the console calls (``--wait`` runs the job here, its log printed live)."""

from __future__ import annotations

import argparse

from pressluft_core.cli import output
from pressluft_core.cli.environments import _queued, _wait
from pressluft_core.cli.handlers import _session


def backup_create(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.backups.create(token, args.site, args.env, args.scope)
    return _queued(app, job, args, f"backup of {args.site}/{args.env}")


def backup_list(args: argparse.Namespace) -> int:
    app, token = _session(args)
    backups = app.backups.list(token, args.site, args.env)
    if args.json:
        output.emit_json(backups)
        return 0
    output.table(((b.id[:8], b.backup_scope, b.status, _size(b.size_bytes),
                   (b.checksum or "")[:12], b.created_at, b.retention_until,
                   f"{b.verified_at} {b.verify_result}" if b.verified_at else "-")
                  for b in backups),
                 ["id", "scope", "status", "size", "sha256", "created", "kept until",
                  "last drill"])
    return 0


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    from pressluft_core.backups.archive import human

    return human(size)


def backup_restore(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.backups.restore(token, args.backup, site_ref=args.site, target_env=args.to)
    return _queued(app, job, args, f"restore of backup {args.backup}")


def backup_verify(args: argparse.Namespace) -> int:
    app, token = _session(args)
    job = app.backups.verify(token, args.backup)
    return _queued(app, job, args, f"restore drill of backup {args.backup}")


def backup_cleanup(args: argparse.Namespace) -> int:
    app, token = _session(args)
    return _queued(app, app.backups.cleanup(token), args, "backup cleanup")


def storage_test(args: argparse.Namespace) -> int:
    app, token = _session(args)
    print(app.backups.test_storage(token))
    return 0


def add_commands(add, groups) -> None:  # type: ignore[no-untyped-def]
    backup = groups.add_parser("backup", help="backups").add_subparsers(
        dest="backup_command", required=True, metavar="ACTION")
    create = add(backup, "create", backup_create, "back up an environment to S3",
                 json_output=True)
    create.add_argument("site", help="site id or slug")
    create.add_argument("env", help="environment id or slug")
    create.add_argument("--scope", default="full", choices=["full", "db", "files"])
    _wait(create)
    listing = add(backup, "list", backup_list, "list backups, newest first", json_output=True)
    listing.add_argument("site", nargs="?", help="site id or slug")
    listing.add_argument("env", nargs="?", help="environment id or slug")
    restore = add(backup, "restore", backup_restore, "restore a backup (checksum verified "
                  "first, a pre-restore backup of the target taken, rolled back when "
                  "unhealthy)", json_output=True)
    restore.add_argument("backup", help="backup id (or at least 6 characters of it)")
    restore.add_argument("--to", metavar="ENV", help="another environment of the same site")
    restore.add_argument("--site", help="site of --to (default: the backup's)")
    _wait(restore)
    verify = add(backup, "verify", backup_verify, "restore drill: restore into a throwaway "
                 "environment, health-check, delete it, record the verdict", json_output=True)
    verify.add_argument("backup", help="backup id (or at least 6 characters of it)")
    _wait(verify)
    cleanup = add(backup, "cleanup", backup_cleanup, "expire backups past their retention "
                  "date now (also runs daily)", json_output=True)
    _wait(cleanup)
    storage = groups.add_parser("storage", help="backup storage").add_subparsers(
        dest="storage_command", required=True, metavar="ACTION")
    add(storage, "test", storage_test, "write, read and delete a probe object in the bucket")
