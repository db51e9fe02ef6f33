"""The wheel is complete: built, installed into a fresh venv (dependencies from the package
index, nothing borrowed from this checkout), it initialises a database and opens the console
headless with the stylesheet that ships inside the wheel.

The installed code runs from a directory outside the repository, in isolated mode (``-I``:
no ``PYTHONPATH``, no user site, no script dir on ``sys.path``), so a ``.tcss`` file or a
module missing from the wheel cannot be papered over by the source tree.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # a hung pip or app must fail the test, not the CI job

# Runs inside the fresh venv. Prints one JSON object describing what was loaded from where.
CHECK_APP = r'''
import asyncio
import json
import sys
import sysconfig
from pathlib import Path

import pressluft_core
import pressluft_tui
from pressluft_core.app import Pressluft
from pressluft_tui.app import PressluftApp
from pressluft_tui.resources import styles_dir


async def main() -> dict:
    core = Pressluft.open(sys.argv[1])
    app = PressluftApp(core)
    async with app.run_test() as pilot:
        await pilot.pause()
        box = app.screen.query_one("#first-run-box")
        report = {
            "purelib": sysconfig.get_paths()["purelib"],
            "sys_path": sys.path,
            "pressluft_core": pressluft_core.__file__,
            "pressluft_tui": pressluft_tui.__file__,
            "styles_dir": str(styles_dir()),
            "css_sources": sorted(path for path, _ in app.stylesheet.source
                                  if path.endswith(".tcss")),
            "screen": type(app.screen).__name__,
            "box_padding": list(box.styles.padding),
            "box_text": " ".join(str(child.render()) for child in box.children),
        }
    core.close()
    return report


print(json.dumps(asyncio.run(main())))
'''


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 0, (
        f"{' '.join(args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that points Python or Pressluft at this
    checkout or at another installation."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP",
            "PRESSLUFT_HOME", "PRESSLUFT_DATABASE_URL", "PRESSLUFT_SESSION"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def _build_wheel(outdir: Path) -> Path:
    pytest.importorskip("build", reason="`build` is a test dependency: run ./scripts/test")
    # No build isolation: hatchling is already in the test venv; the wheel's content does
    # not depend on where the backend comes from.
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
          str(outdir), str(REPO)], cwd=outdir.parent, env=_clean_env())
    wheels = list(outdir.glob("pressluft-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {outdir}, found {wheels}"
    return wheels[0]


@pytest.mark.slow
def test_wheel_installs_and_console_starts_with_packaged_styles(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")

    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "pressluft_tui/styles/app.tcss",
        "pressluft_tui/app.py",
        "pressluft_tui/screens/sites.py",
        "pressluft_core/app.py",
        "pressluft_core/migrations/m0001_seed_schema.py",
    }
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    repo_styles = {f"pressluft_tui/styles/{p.name}" for p in (REPO / "styles").glob("*.tcss")}
    assert repo_styles <= names, f"styles missing from the wheel: {repo_styles - names}"
    assert not any(n.startswith(("tests/", "styles/")) for n in names), \
        "the wheel ships test files or a top-level styles/ package"

    # A plain venv: nothing from this checkout or from the test venv is visible in it. The
    # test venv's pip installs into it (`--python`), which saves seeding a pip of its own;
    # the wheel's dependencies resolve from the configured package index.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path,
         env=_clean_env())
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
          "--disable-pip-version-check", str(wheel)], cwd=tmp_path, env=_clean_env())

    outside = tmp_path / "elsewhere"
    outside.mkdir()

    # The console script from the wheel creates a database with the whole schema.
    home = tmp_path / "home"
    init = _run([str(venv / "bin" / "pressluft"), "init", "--json"], cwd=outside,
                env=_clean_env(PRESSLUFT_HOME=str(home)))
    info = json.loads(init.stdout)
    assert info["backend"] == "sqlite"
    assert Path(info["database"]) == home / "pressluft.db"
    with sqlite3.connect(home / "pressluft.db") as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = [row[0] for row in conn.execute(
            "SELECT version FROM schema_migrations ORDER BY version")]
    seed = {"sites", "environments", "nodes", "releases", "backups", "domains", "jobs",
            "users", "auth_sessions", "drift_checks", "audit_logs", "settings"}
    assert seed <= tables, f"tables missing: {seed - tables}"
    migrations = sorted(
        int(p.name[1:5]) for p in (REPO / "pressluft_core" / "migrations").glob("m[0-9]*.py"))
    assert versions == migrations, "the installed wheel did not apply every migration"

    # The console, headless, from the installed wheel.
    script = outside / "check_app.py"
    script.write_text(CHECK_APP)
    result = _run([str(python), "-I", str(script), str(tmp_path / "console-home")],
                  cwd=outside, env=_clean_env(TERM="xterm-256color"))
    report = json.loads(result.stdout.strip().splitlines()[-1])

    site_packages = Path(report["purelib"]).resolve()
    assert site_packages.is_relative_to(venv.resolve())
    assert not any(Path(p or ".").resolve() == REPO for p in report["sys_path"]), \
        "the source tree is importable from the installed venv"
    for module in ("pressluft_core", "pressluft_tui"):
        assert Path(report[module]).resolve().is_relative_to(site_packages), report[module]
    assert Path(report["styles_dir"]) == site_packages / "pressluft_tui" / "styles"
    assert report["css_sources"] == [str(site_packages / "pressluft_tui" / "styles" /
                                         "app.tcss")]
    assert report["screen"] == "FirstRunScreen"  # an empty database starts the first run
    # styles/app.tcss gives `.panel` `padding: 1 2`; Textual's default is no padding, so
    # this proves the packaged stylesheet was parsed and applied, not just found.
    assert report["box_padding"] == [1, 2, 1, 2]
    assert "Welcome to Pressluft" in report["box_text"]
