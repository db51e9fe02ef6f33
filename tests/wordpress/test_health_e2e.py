"""Deploys that never delete the active theme, and health checks that tell the truth
(issue 19), end to end on the real stack: a repository holding one theme keeps every other
one; a white screen, an ``exit`` before output and WordPress's "critical error" page each
fail the check and roll back while production keeps serving its page; a release without
the active theme is refused before the switch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.models import Environment, Release
from tests.wordpress.stack import Stack, http_get, mysql
from tests.wordpress.test_site_e2e import THEME_PAGE

TITLE = "Truthful Shop"


def commit(repo: Path, files: dict[str, str]) -> None:
    """The repository holds exactly ``files`` (path -> content) in a new commit."""
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(content)
    git = ["git", "-C", str(repo), "-c", "user.name=e2e", "-c", "user.email=e2e@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "deploy"], check=True)


def theme(name: str, index: str = THEME_PAGE, functions: str = "") -> dict[str, str]:
    return {f"themes/{name}/style.css": f"/*\nTheme Name: {name}\n*/\n",
            f"themes/{name}/index.php": index,
            f"themes/{name}/functions.php": "<?php\n" + functions}


@pytest.fixture(scope="module")
def shop(stack: Stack) -> Environment:
    job = stack.core.sites.create(stack.token, TITLE, "truth", node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    return stack.env("truth", "production")


@pytest.fixture(scope="module")
def repo(stack: Stack) -> Path:
    return stack.sites_root.parent / f"health-repo-{stack.sites_root.name}"


def deploy(stack: Stack, repo: Path, **extra: object):  # type: ignore[no-untyped-def]
    job = stack.core.environments.deploy(stack.token, "truth", "production",
                                         git_url=str(repo), git_ref="main", **extra)
    return stack.run(job.id), stack.log(job.id)


def themes_of(env: Environment) -> set[str]:
    release = Release.get_by_id(Environment.get_by_id(env.id).current_release_id)
    return {p.name for p in (Path(release.path) / "wp-content" / "themes").iterdir()}


def test_a_repository_with_one_theme_keeps_every_other_theme(
        stack: Stack, shop: Environment, repo: Path) -> None:
    before = themes_of(shop)
    assert "twentytwentythree" in before
    commit(repo, theme("acme-shop"))
    done, log = deploy(stack, repo)
    assert done.status == "succeeded", log
    assert themes_of(shop) == before | {"acme-shop"}
    assert "added: themes/acme-shop" in log and "twentytwentythree" in log.split("kept:")[1]
    status, body = http_get(shop.preview_url)
    assert status == 200 and TITLE.encode() in body
    checks = json.loads(Release.get_by_id(done.id).health_checks)
    assert checks == {"installed": "ok", "db": "ok", "page": "ok", "login": "ok",
                      "php_log": "ok"}


@pytest.fixture(scope="module")
def serving(stack: Stack, shop: Environment, repo: Path) -> bytes:
    """The e2e theme deployed and active: the page production serves."""
    commit(repo, theme("e2e-theme"))
    done, log = deploy(stack, repo)
    assert done.status == "succeeded", log
    mysql("UPDATE wp_options SET option_value = 'e2e-theme' WHERE option_name IN "
          "('template', 'stylesheet')", node_names(shop.id))
    status, body = http_get(shop.preview_url)
    assert status == 200 and b"deployed-by-pressluft-e2e" in body
    return body


@pytest.mark.parametrize(("name", "files", "evidence"), [
    ("white-screen", theme("e2e-theme", index="<?php\n"), "empty body"),
    ("exit", theme("e2e-theme", functions="exit;\n"), "empty body"),
    ("critical", theme("e2e-theme", index="<html><body><p>There has been a critical error on "
                       "this website.</p></body></html>\n"), "critical error"),
    ("fatal", theme("e2e-theme", functions="pressluft_no_such_function();\n"), "critical error"),
])
def test_a_broken_page_fails_the_check_and_rolls_back(
        stack: Stack, shop: Environment, repo: Path, serving: bytes, name: str,
        files: dict[str, str], evidence: str) -> None:
    good = Environment.get_by_id(shop.id).current_release_id
    commit(repo, files)
    done, log = deploy(stack, repo)
    assert done.status == "failed" and done.error_code == "HEALTH_CHECK_FAILED", log
    assert "rolled back automatically" in done.error_message
    assert "page:" in done.error_message and evidence in done.error_message
    assert Environment.get_by_id(shop.id).current_release_id == good
    bad = Release.get_by_id(done.id)
    assert bad.health_status == "unhealthy" and json.loads(bad.health_checks)["page"] != "ok"
    status, body = http_get(shop.preview_url)
    assert (status, body) == (200, serving)


def test_a_release_without_the_active_theme_is_refused_before_the_switch(
        stack: Stack, shop: Environment, repo: Path, serving: bytes) -> None:
    good = Environment.get_by_id(shop.id).current_release_id
    commit(repo, {"themes/e2e-theme/index.php": THEME_PAGE})  # no style.css: not a theme
    done, log = deploy(stack, repo)
    assert done.status == "failed" and done.error_code == "INVALID_PAYLOAD", log
    assert "lacks the active theme 'e2e-theme'" in log
    env = Environment.get_by_id(shop.id)
    assert env.current_release_id == good and env.status == "active"
    assert http_get(shop.preview_url) == (200, serving)


def test_a_repository_that_is_one_theme_needs_into(
        stack: Stack, shop: Environment, repo: Path, serving: bytes) -> None:
    commit(repo, {"style.css": "/*\nTheme Name: Solo Theme\n*/\n", "index.php": THEME_PAGE})
    done, log = deploy(stack, repo)
    assert done.status == "failed" and "deploy it into themes/solo-theme" in log, log
    done, log = deploy(stack, repo, into="themes/solo-theme")
    assert done.status == "succeeded", log
    assert "solo-theme" in themes_of(shop) and "e2e-theme" in themes_of(shop)
    assert "added: themes/solo-theme" in log


def test_a_deploy_plan_lists_the_entries_and_switches_nothing(
        stack: Stack, shop: Environment, repo: Path, serving: bytes) -> None:
    current = Environment.get_by_id(shop.id).current_release_id
    releases = set(Path(Release.get_by_id(current).path).parent.iterdir())
    commit(repo, {**theme("planned-theme"), **theme("e2e-theme")})
    job = stack.core.environments.plan_deploy(stack.token, "truth", "production",
                                              git_url=str(repo), git_ref="main")
    done = stack.run(job.id)
    log = stack.log(job.id)
    assert done.status == "succeeded", log
    assert "plan: added: themes/planned-theme" in log
    assert "plan: replaced: themes/e2e-theme" in log and "twentytwentythree" in log
    assert Environment.get_by_id(shop.id).current_release_id == current
    assert set(Path(Release.get_by_id(current).path).parent.iterdir()) == releases
    assert http_get(shop.preview_url) == (200, serving)
