"""The ``pressluft`` command line, driven in subprocesses against a fresh PRESSLUFT_HOME
(SQLite): the whole first-run flow, JSON output, masked secrets, and errors that are one
line on stderr with exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "a long enough password"
EMAIL = "ops@example.com"
S3_SECRET = "S3-CLI-SECRET-123456"

Run = Callable[..., subprocess.CompletedProcess[str]]


def _runner(home: Path) -> Run:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PRESSLUFT_DATABASE_URL", "PRESSLUFT_SESSION")}
    env["PRESSLUFT_HOME"] = str(home)

    def run(*args: str, stdin: str | None = None, expect: int | None = 0
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "pressluft_tui.entry", *args], input=stdin,
            capture_output=True, text=True, env=env, timeout=120,
            stdin=subprocess.DEVNULL if stdin is None else None,
        )
        assert "Traceback" not in result.stderr, result.stderr
        if expect is not None:
            assert result.returncode == expect, (args, result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    return tmp_path / "pressluft-home"


@pytest.fixture
def pressluft(cli_home: Path) -> Run:
    return _runner(cli_home)


@pytest.fixture(scope="module")
def logged_in_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installation with an admin, logged in, made once per module by the CLI itself."""
    home = tmp_path_factory.mktemp("cli-template") / "home"
    run = _runner(home)
    run("init")
    run("admin", "create", "--email", EMAIL, "--name", "Ops Person", "--password-stdin",
        stdin=PASSWORD + "\n")
    run("login", "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    return home


@pytest.fixture
def logged_in(logged_in_template: Path, cli_home: Path) -> Run:
    """A private copy of the logged-in installation (the template's processes are gone)."""
    shutil.copytree(logged_in_template, cli_home)
    return _runner(cli_home)


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    error = result.stderr.strip()
    assert error, "nothing on stderr"
    assert "\n" not in error, error
    assert error.startswith("pressluft: "), error
    for word in words:
        assert word in error, error
    return error


def test_first_run_flow(pressluft: Run, cli_home: Path) -> None:
    info = _json(pressluft("init", "--json"))
    assert info["backend"] == "sqlite"
    assert info["has_admin"] is False
    assert Path(info["database"]) == (cli_home / "pressluft.db").resolve()
    # Password and session hashes live in the database: owner-only, like the data dir.
    assert stat.S_IMODE((cli_home / "pressluft.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(cli_home.stat().st_mode) == 0o700

    created = pressluft("admin", "create", "--email", EMAIL, "--name", "Ops Person",
                        "--password-stdin", stdin=PASSWORD + "\n")
    assert EMAIL in created.stdout
    assert _json(pressluft("init", "--json"))["has_admin"] is True

    pressluft("login", "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    session = cli_home / "state" / "session"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    token = session.read_text().strip()
    assert len(token) >= 43
    assert token.encode() not in (cli_home / "pressluft.db").read_bytes()

    node = _json(pressluft("node", "add", "local", "--hostname", "localhost",
                           "--public-ip", "127.0.0.1", "--local", "--no-check", "--json"))
    assert (node["name"], node["is_local"], node["public_ip"]) == ("local", True, "127.0.0.1")
    assert [n["name"] for n in _json(pressluft("node", "list", "--json"))] == ["local"]

    job = _json(pressluft("site", "create", "My Blog", "--slug", "my-blog", "--json"))
    assert (job["job_type"], job["status"]) == ("site_create", "queued")

    sites = _json(pressluft("site", "list", "--json"))
    assert [(s["slug"], s["name"]) for s in sites] == [("my-blog", "My Blog")]
    envs = _json(pressluft("env", "list", "--json"))
    assert [(e["slug"], e["environment_type"], e["site_id"]) for e in envs] == [
        ("production", "production", sites[0]["id"])]
    assert envs[0]["preview_url"] == f"http://{envs[0]['id'][:8]}.127-0-0-1.sslip.io"
    assert _json(pressluft("env", "list", "--site", "my-blog", "--json")) == envs

    jobs = _json(pressluft("jobs", "list", "--json"))
    assert [j["id"] for j in jobs] == [job["id"]]
    shown = _json(pressluft("jobs", "show", job["id"][:8], "--json"))
    assert shown["id"] == job["id"]
    plain = pressluft("jobs", "show", job["id"][:8]).stdout
    assert job["id"] in plain and "site_create" in plain
    listing = pressluft("site", "list").stdout
    assert "my-blog" in listing and "SLUG" in listing


def test_settings_and_masked_secrets(logged_in: Run, cli_home: Path) -> None:
    pressluft = logged_in
    done = pressluft("settings", "set", "preview_domain", "wp.example.com")
    assert "preview_domain = wp.example.com" in done.stdout
    assert _json(pressluft("settings", "get", "preview_domain", "--json"))[0]["value"] \
        == "wp.example.com"

    done = pressluft("settings", "set", "s3_secret_access_key", "-", stdin=S3_SECRET + "\n")
    assert S3_SECRET not in done.stdout
    assert "********" in done.stdout
    (shown,) = _json(pressluft("settings", "get", "s3_secret_access_key", "--json"))
    assert (shown["value"], shown["secret"], shown["is_set"]) == ("********", True, True)
    table = pressluft("settings", "get").stdout
    assert "s3_secret_access_key" in table and S3_SECRET not in table
    assert "backup_retention_days" in table
    for path in cli_home.rglob("*"):
        if path.is_file() and "secrets" not in path.parts:
            assert S3_SECRET.encode() not in path.read_bytes(), path

    bad = pressluft("settings", "set", "preview_domain", "not a domain!", expect=2)
    _one_line_error(bad, "preview_domain")
    unknown = pressluft("settings", "set", "no_such_key", "x", expect=2)
    _one_line_error(unknown, "no_such_key")
    pressluft("settings", "set", "preview_domain", "--unset")
    assert _json(pressluft("settings", "get", "preview_domain", "--json"))[0]["is_set"] \
        is False


def test_bad_input_exits_2_naming_the_field(logged_in: Run) -> None:
    pressluft = logged_in
    pressluft("node", "add", "local", "--hostname", "localhost", "--public-ip", "127.0.0.1",
              "--local", "--no-check")
    for slug in ("x'; rm -rf / #", "$(touch /tmp/pwned)", "café", "a" * 300, "[bold]x[/]"):
        result = pressluft("site", "create", "Hostile", "--slug", slug, expect=2)
        _one_line_error(result, "slug")
    result = pressluft("node", "add", "n2", "--hostname", "bad host;", "--no-check", expect=2)
    _one_line_error(result, "hostname")
    result = pressluft("node", "provision", "local", "--sites-root", "/tmp/x; touch /tmp/pwned",
                       expect=2)
    _one_line_error(result, "sites_root")
    _one_line_error(pressluft("jobs", "show", "ffffffff", expect=2), "no job")
    _one_line_error(pressluft("env", "list", "--site", "nope", expect=2), "nope")
    assert _json(pressluft("site", "list", "--json")) == []


def test_login_errors_and_logout(pressluft: Run, cli_home: Path) -> None:
    pressluft("init")
    pressluft("admin", "create", "--email", EMAIL, "--name", "Ops Person", "--password-stdin",
              stdin=PASSWORD + "\n")
    again = pressluft("admin", "create", "--email", "two@example.com", "--name", "Two",
                      "--password-stdin", stdin=PASSWORD + "\n", expect=2)
    _one_line_error(again, "admin already exists")
    short = pressluft("admin", "create", "--email", "x@example.com", "--name", "X",
                      "--password-stdin", stdin="short\n", expect=2)
    _one_line_error(short, "password")
    wrong = pressluft("login", "--email", EMAIL, "--password-stdin", stdin="wrong!\n",
                      expect=2)
    _one_line_error(wrong, "wrong email or password")
    no_tty = pressluft("login", "--email", EMAIL, expect=2)
    _one_line_error(no_tty, "password-stdin")
    not_yet = pressluft("site", "list", expect=2)
    _one_line_error(not_yet, "not logged in")

    pressluft("login", "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    assert _json(pressluft("site", "list", "--json")) == []
    token = (cli_home / "state" / "session").read_text().strip()
    assert "logged out" in pressluft("logout").stdout
    assert not (cli_home / "state" / "session").exists()
    after = pressluft("site", "list", "--json", expect=2)
    _one_line_error(after, "not logged in")
    assert after.stdout == ""

    # The old token is revoked in the database, not merely forgotten by the CLI.
    env = {k: v for k, v in os.environ.items() if k != "PRESSLUFT_DATABASE_URL"}
    env.update(PRESSLUFT_HOME=str(cli_home), PRESSLUFT_SESSION=token)
    reused = subprocess.run([sys.executable, "-m", "pressluft_tui.entry", "site", "list"],
                            capture_output=True, text=True, env=env, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert reused.returncode == 2
    _one_line_error(reused, "logged out")


def test_env_commands_refuse_what_cannot_be_done_yet(logged_in: Run) -> None:
    """Before site_create ran, the environment has no release: every env job is refused
    with one sentence; hostile deploy sources are refused naming the field."""
    pressluft = logged_in
    pressluft("node", "add", "local", "--hostname", "localhost", "--public-ip", "127.0.0.1",
              "--local", "--no-check")
    pressluft("site", "create", "Blog", "--slug", "blog")
    for args in (["deploy", "blog", "production", "--git", "https://example.com/t.git"],
                 ["rollback", "blog", "production"], ["health", "blog", "production"],
                 ["clone", "blog", "production", "--slug", "staging"],
                 ["regenerate-preview-url", "blog", "production"]):
        _one_line_error(pressluft("env", *args, expect=2), "production")
    _one_line_error(pressluft("env", "login", "blog", "production", expect=2), "login")
    _one_line_error(pressluft("env", "releases", "blog", "nope", expect=None), "nope")
    assert _json(pressluft("env", "releases", "blog", "production", "--json")) == []
    deploy = pressluft("env", "deploy", "blog", "production", expect=2)
    assert "--git" in deploy.stderr


def test_deploy_sources_are_checked_before_anything_is_queued(logged_in: Run,
                                                              tmp_path: Path) -> None:
    from pressluft_core.errors import ValidationError
    from pressluft_core.wordpress.deploy_source import (
        check_archive,
        check_git_ref,
        check_git_url,
    )

    for url in ("--upload-pack=touch /tmp/pwned", "https://x.example/$(id)", "a b",
                "ext::sh -c touch% /tmp/pwned", "https://user:pw@example.com/r.git", ""):
        with pytest.raises(ValidationError, match="git_url"):
            check_git_url("git_url", url)
    for ref in ("-x", "main;id", "../etc", "a..b", "x.lock", ""):
        with pytest.raises(ValidationError, match="git_ref"):
            check_git_ref("git_ref", ref)
    (tmp_path / "notes.txt").write_text("x")
    for path in (str(tmp_path / "notes.txt"), str(tmp_path / "missing.zip")):
        with pytest.raises(ValidationError, match="archive"):
            check_archive("archive", path)
    assert check_git_url("git_url", "git@github.com:acme/theme.git")
    assert check_git_ref("git_ref", "release/2.1") == "release/2.1"


def test_fleet_commands(logged_in: Run) -> None:
    """env move / move-cleanup / clone --node and node decommission: refusals are one
    sentence naming what is wrong; the node list shows OS and stack columns."""
    pressluft = logged_in
    pressluft("node", "add", "local", "--hostname", "localhost", "--public-ip", "127.0.0.1",
              "--local", "--no-check")
    pressluft("node", "add", "web-2", "--hostname", "10.203.1.77", "--no-check")
    pressluft("site", "create", "Blog", "--slug", "blog")
    _one_line_error(pressluft("env", "move", "blog", "production", "--to", "web-2",
                              expect=None), "production")
    _one_line_error(pressluft("env", "move", "blog", "production", "--to", "nowhere",
                              expect=None), "nowhere")
    _one_line_error(pressluft("env", "move-cleanup", "blog", "production", expect=None),
                    "no old copy")
    _one_line_error(pressluft("env", "clone", "blog", "production", "--slug", "far",
                              "--node", "web-2", expect=None), "production")
    _one_line_error(pressluft("node", "decommission", "local", expect=None), "own node")
    node = _json(pressluft("node", "decommission", "web-2", "--json"))
    assert node["status"] == "decommissioned"
    _one_line_error(pressluft("node", "decommission", "web-2", expect=None), "already")
    listing = pressluft("node", "list").stdout
    assert {"OS", "STACK"} <= set(listing.splitlines()[0].split())
    assert "NODE" in pressluft("env", "list").stdout.splitlines()[0].split()
