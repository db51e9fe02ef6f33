"""The zipapp's one entry point: ``python3 pressluft-node.pyz TOOL ARGS…`` runs envctl,
domainctl, the URL replacer or sqlguard with their own command lines, exit codes and
output, as when each was a file of its own. A tool's modules are imported only when it
runs (the replacer, in a pipe, loads nothing of envctl)."""

from __future__ import annotations

import importlib
import sys

# tool -> (module, how its main() takes the command line: with a program name or without)
TOOLS = {
    "envctl": ("envctl.cli", True),
    "domainctl": ("domainctl.cli", True),
    "search-replace": ("replacer.cli", False),
    "sqlguard": ("sqlguard.guard", False),
}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in TOOLS:
        print(f"usage: pressluft-node.pyz {{{'|'.join(TOOLS)}}} ARGS...", file=sys.stderr)
        return 2
    name, named = TOOLS[argv[1]]
    module = importlib.import_module(f"{__package__}.{name}")
    return module.main([argv[1], *argv[2:]] if named else argv[2:])
