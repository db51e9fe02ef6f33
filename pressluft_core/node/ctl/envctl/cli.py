"""envctl's entry point: the command table, the checks every call passes (root or the
environment's user), the ``result:`` line and the exit codes.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._common import Failed, Refused

RESULT_DIR = Path("/var/tmp/pressluft-results")
RESULT_INLINE_MAX = 4096  # the control plane keeps only the last 10 KB of output


def print_result(result: dict) -> None:
    """``result: {json}``; a large answer (an upload manifest) goes to a root-only file
    that ``take-result`` hands over once, and the line says where."""
    text = json.dumps(result)
    if len(text) <= RESULT_INLINE_MAX:
        print("result: " + text, flush=True)
        return
    RESULT_DIR.mkdir(mode=0o700, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=RESULT_DIR, suffix=".json")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    print(f"result-file: {path}", flush=True)


def cmd_take_result(data: dict) -> None:
    path = Path(str(data.get("path")))
    if path.parent != RESULT_DIR or not re.fullmatch(r"tmp\w+\.json", path.name):
        raise Refused(f"{path} is not a result file")
    sys.stdout.buffer.write(path.read_bytes())
    sys.stdout.flush()
    path.unlink()


# command -> "module:function". A call imports only its command's module: importing all
# of envctl cost each call about 90 ms of a node's python3 (0.01 s without it), and a clone
# makes half a dozen calls.
COMMANDS = {
    "prepare": "layout:cmd_prepare", "core-release": "layout:cmd_core_release",
    "install": "layout:cmd_install", "activate": "layout:cmd_activate",
    "health": "health:cmd_health", "inspect": "layout:cmd_inspect",
    "checksums": "drift:cmd_checksums", "clone": "clone:cmd_clone",
    "clone-finish": "clone:cmd_clone_finish",
    "release-from-git": "deploy:cmd_release_from_git",
    "release-from-archive": "deploy:cmd_release_from_archive",
    "update-release": "deploy:cmd_update_release",
    "release-from-env": "promote:cmd_release_from_env",
    "promote-tables": "promote:cmd_promote_tables", "promote-swap": "promote:cmd_promote_swap",
    "promote-undo": "promote:cmd_promote_undo", "import-apply": "importing:cmd_import_apply",
    "import-cleanup": "importing:cmd_import_cleanup",
    "remove": "layout:cmd_remove", "backup-estimate": "backup:cmd_backup_estimate",
    "restore-swap": "restore:cmd_restore_swap", "restore-undo": "restore:cmd_restore_undo",
    "restore-finish": "restore:cmd_restore_finish",
}
# Their stdin/stdout carry the data: the input comes as the argument after the command.
STREAM_COMMANDS = {"backup-stream": "backup:cmd_backup_stream",
                   "restore-stream": "restore:cmd_restore_stream",
                   "dump-stream": "restore:cmd_dump_stream",
                   "restore-db-stream": "restore:cmd_restore_db_stream",
                   "import-stage": "importing:cmd_import_stage",
                   "take-result": "cli:cmd_take_result",
                   "unpack": "backup:cmd_unpack", "extract": "deploy:cmd_extract"}
AS_ENVIRONMENT_USER = {"unpack", "extract"}  # run by root through runuser, never as root
RAW_OUTPUT = {"backup-stream", "take-result", "dump-stream"}


def command_named(where: str) -> Callable[[dict], Any]:
    module, function = where.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


def main(argv: list[str]) -> int:
    os.environ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    os.umask(0o022)
    streaming = len(argv) == 3 and argv[1] in STREAM_COMMANDS
    if not streaming and (len(argv) != 2 or argv[1] not in COMMANDS):
        print(f"usage: pressluft-node.pyz envctl {{{'|'.join(COMMANDS)}}} < input.json\n"
              f"       pressluft-node.pyz envctl {{{'|'.join(STREAM_COMMANDS)}}} INPUT_JSON",
              file=sys.stderr)
        return 2
    if (os.geteuid() == 0) == (argv[1] in AS_ENVIRONMENT_USER):
        print("envctl: must run as root" if os.geteuid() else
              f"envctl: {argv[1]} must run as the environment's user", file=sys.stderr)
        return 2
    try:
        data = json.loads(argv[2] if streaming else (sys.stdin.read() or "{}"))
        if not isinstance(data, dict):
            raise Refused("input must be a JSON object")
        command = command_named(STREAM_COMMANDS[argv[1]] if streaming else COMMANDS[argv[1]])
        if argv[1] in RAW_OUTPUT:  # stdout is the data: no result line after it
            command(data)
            return 0
        result = command(data)
    except Refused as exc:
        print(f"envctl: {exc}", file=sys.stderr)
        return 2
    except (Failed, OSError, subprocess.SubprocessError, tarfile.TarError,
            zipfile.BadZipFile, ValueError, KeyError) as exc:
        print(f"envctl: {exc}", file=sys.stderr)
        return 1
    print_result(result)
    return 0
