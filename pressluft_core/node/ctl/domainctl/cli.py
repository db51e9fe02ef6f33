"""domainctl's entry point: the command table, the root check, the ``result:`` line and the
exit codes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .._common import Failed, Refused
from .certs import cmd_expiry, cmd_issue, cmd_issue_wildcard, cmd_remove_cert, dns01_hook
from .dns import cmd_check_dns
from .nginx import cmd_configure, cmd_reload_php
from .urls import cmd_inspect_config, cmd_stage_url_rewrite

COMMANDS = {
    "check-dns": cmd_check_dns, "issue": cmd_issue, "configure": cmd_configure,
    "remove-cert": cmd_remove_cert, "expiry": cmd_expiry,
    "stage-url-rewrite": cmd_stage_url_rewrite, "inspect-config": cmd_inspect_config,
    "reload-php": cmd_reload_php, "issue-wildcard": cmd_issue_wildcard,
}


def main(argv: list[str]) -> int:
    os.environ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    os.umask(0o022)
    if len(argv) == 4 and argv[1] == "dns01-hook" and argv[2] in ("set", "clear"):
        try:
            return dns01_hook(argv[2], argv[3])
        except (OSError, ValueError, KeyError) as exc:
            print(f"domainctl dns01-hook: {exc}", file=sys.stderr)
            return 1
    if len(argv) != 2 or argv[1] not in COMMANDS:
        print(f"usage: pressluft-node.pyz domainctl {{{'|'.join(COMMANDS)}}} < input.json",
              file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("domainctl: must run as root", file=sys.stderr)
        return 2
    try:
        data = json.loads(sys.stdin.read() or "{}")
        if not isinstance(data, dict):
            raise Refused("input must be a JSON object")
        result = COMMANDS[argv[1]](data)
    except Refused as exc:
        print(f"domainctl: {exc}", file=sys.stderr)
        return 2
    except (Failed, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        print(f"domainctl: {exc}", file=sys.stderr)
        return 1
    print("result: " + json.dumps(result), flush=True)
    return 0
