"""``python -m bench <name> [--json] [args]``: run ``bench/<name>.py``'s ``main(argv)``.

The dispatcher knows no benchmark by name: any module in this package whose name does not
start with ``_`` is one, so adding a benchmark means adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

USAGE = "usage: python -m bench <name> [--json] [args]"


def available() -> list[str]:
    """Names of the benchmarks in this package."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    """Dispatch to the named benchmark; exit 2 with the list of names when there is none."""
    names = available()
    if argv and argv[0] in ("-h", "--help"):
        print(f"{USAGE}\nbenchmarks: {', '.join(names) or '(none)'}")
        return 0
    if not argv or argv[0] not in names:
        problem = f"unknown benchmark {argv[0]!r}" if argv else "no benchmark named"
        print(f"{USAGE}\n{problem}; benchmarks: {', '.join(names) or '(none)'}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{argv[0]}")
    return int(module.main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
