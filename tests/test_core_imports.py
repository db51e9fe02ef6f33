"""``pressluft_core`` is usable without the console: importing all of it imports no Textual."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import importlib, json, pkgutil, sys
import pressluft_core

imported, failed = [], {}
for info in pkgutil.walk_packages(pressluft_core.__path__, "pressluft_core."):
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "pressluft_tui"))
print(json.dumps({"imported": imported, "failed": failed, "ui": ui}))
"""


def test_core_imports_without_textual() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    imported = set(report["imported"])
    # The walk really covered the package (a broken walk would prove nothing).
    assert {"pressluft_core.app", "pressluft_core.models", "pressluft_core.cli.main",
            "pressluft_core.services.sites", "pressluft_core.migrations.m0001_seed_schema",
            } <= imported
    assert report["ui"] == []
