"""Hostile deploy sources and names against the real stack (issue 18): git URLs and refs
that would run commands or read what the environment may not, and names carrying shell
metacharacters or nginx directives. Each is refused with a clear error or confined to its
own environment; nothing else on the node changes."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pressluft_core.clock import to_iso
from pressluft_core.errors import ValidationError
from pressluft_core.jobs.handlers.envctl import env_inputs, node_names
from pressluft_core.models import Environment, Job
from pressluft_core.node.bundle import command as node_command
from tests.security.corpus import node_state, unchanged
from tests.wordpress.stack import Stack, mysql


def retry_now(job_id: str) -> None:
    Job.update(run_after=to_iso(datetime.now(UTC))).where(Job.id == job_id).execute()


HOSTILE_NAME = "Shop; server_name evil.example; } $(touch /tmp/pwned-name) `id`"


@pytest.fixture(scope="module")
def site(stack: Stack) -> Environment:
    job = stack.core.sites.create(stack.token, HOSTILE_NAME, "deploy-target",
                                  node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    return stack.env("deploy-target", "production")


def test_a_title_with_shell_and_nginx_syntax_is_only_a_title(stack: Stack,
                                                             site: Environment) -> None:
    config = Path(f"/etc/nginx/sites-available/pressluft-{node_names(site.id)}.conf")
    assert "evil" not in config.read_text()
    assert mysql("SELECT option_value FROM wp_options WHERE option_name = 'blogname'",
                 node_names(site.id)).strip() == HOSTILE_NAME
    assert not list(Path("/tmp").glob("pwned-*"))


def deploy(stack: Stack, git_url: str, git_ref: str):  # type: ignore[no-untyped-def]
    return stack.core.environments.deploy(stack.token, "deploy-target", "production",
                                          git_url=git_url, git_ref=git_ref)


@pytest.mark.parametrize(("field", "call"), [
    ("slug", lambda s: s.core.sites.create(s.token, "X", "a;touch /tmp/pwned-slug")),
    ("name", lambda s: s.core.sites.create(s.token, "x;\n server_name evil;", "newline")),
    ("preview_domain", lambda s: s.core.settings.set(s.token, "preview_domain",
                                                     "x;\n server_name evil;")),
    ("hostname", lambda s: s.core.nodes.register(s.token, "evil",
                                                 "127.0.0.1; touch /tmp/pwned-node")),
    ("name", lambda s: s.core.nodes.register(s.token, "evil$(id)", "127.0.0.1")),
    ("git_url", lambda s: deploy(s, "--upload-pack=touch /tmp/pwned-git", "main")),
    ("git_url", lambda s: deploy(s, "ext::sh -c touch% /tmp/pwned-ext", "main")),
    ("git_ref", lambda s: deploy(s, "https://git.example.com/x.git", "--upload-pack=touch")),
    ("git_ref", lambda s: deploy(s, "https://git.example.com/x.git", "-x")),
])
def test_hostile_values_are_refused_naming_the_field(stack: Stack, site: Environment,
                                                     field: str, call) -> None:  # type: ignore[no-untyped-def]
    before = node_state(stack)
    with pytest.raises(ValidationError) as refused:
        call(stack)
    assert refused.value.field == field
    unchanged(stack, before)


def envctl_git(env: Environment, repo: str, ref: str = "main") -> subprocess.CompletedProcess:
    data = {**env_inputs(env), "release": "20260101T000000Z-0badc0de", "repo": repo,
            "ref": ref}
    return subprocess.run([*node_command("envctl"), "release-from-git"],
                          input=json.dumps(data).encode(), capture_output=True)


@pytest.mark.parametrize(("repo", "ref", "status", "why"), [
    ("--upload-pack=touch /tmp/pwned-git", "main", 2, "is not valid"),
    ("ext::sh -c touch% /tmp/pwned-ext", "main", 2, "is not valid"),
    ("ext::touch%/tmp/pwned-ext", "main", 1, "'ext' not allowed"),
    ("https://git.example.com/x.git", "-x", 2, "is not valid"),
])
def test_the_node_refuses_them_too_when_the_core_is_bypassed(
        stack: Stack, site: Environment, repo: str, ref: str, status: int, why: str) -> None:
    before = node_state(stack)
    done = envctl_git(site, repo, ref)
    assert done.returncode == status and why in done.stderr.decode(), done.stderr.decode()
    unchanged(stack, before)


@pytest.fixture
def root_only_repo() -> Path:
    repo = Path("/root/pressluft-e2e-secret-repo")
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "themes").mkdir()
    (repo / "themes" / "secret.txt").write_text("root's secret\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x",
                    "commit", "-q", "-m", "secret"], check=True)
    repo.chmod(0o700)
    Path("/root").chmod(0o700)
    yield repo
    subprocess.run(["rm", "-rf", str(repo)], check=True)


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_repository_only_root_can_read_cannot_be_deployed(
        stack: Stack, site: Environment, root_only_repo: Path, form: str) -> None:
    """git runs as the environment's user: a path on the node is only as readable as it
    is to that user."""
    url = str(root_only_repo) if form == "path" else f"file://{root_only_repo}"
    before = node_state(stack)
    job = stack.core.environments.deploy(stack.token, "deploy-target", "production",
                                         git_url=url, git_ref="main")
    attempt = stack.run(job.id)
    while attempt.status == "queued":  # a clone failure is retried (the network may be back)
        retry_now(job.id)
        attempt = stack.run(job.id)
    log = stack.log(job.id)
    assert attempt.status == "failed", log
    assert "git exited" in log and ("not exist" in log or "ermission denied" in log
                                    or "not appear to be a git repository" in log), log
    assert Environment.get_by_id(site.id).status == "active"
    unchanged(stack, before)
