"""Where the console's ``.tcss`` files are: inside the installed package (the wheel copies
the top-level ``styles/`` there), or the source tree's ``styles/`` in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def styles_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "styles", _PACKAGE_DIR.parent / "styles"):
        if (candidate / "app.tcss").is_file():
            return candidate
    raise FileNotFoundError(f"pressluft styles not found next to {_PACKAGE_DIR}")


def stylesheet(name: str) -> Path:
    return styles_dir() / name
