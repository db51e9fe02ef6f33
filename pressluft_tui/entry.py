"""The ``pressluft`` executable: no command opens the console, anything else is the CLI.

Lives in the console package so that :mod:`pressluft_core` never imports Textual; Textual
is imported only when the console actually opens.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    home, rest = (args[1], args[2:]) if args[:1] == ["--home"] and len(args) > 1 else (None, args)
    if not rest or rest == ["console"]:
        from pressluft_tui.app import run

        return run(home=home)
    from pressluft_core.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
