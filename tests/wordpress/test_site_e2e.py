"""Site lifecycle end to end on this machine's real stack, driven through the services as
the console drives them: create, clone to staging, deploy from git, a fatal release rolled
back automatically, rollback, isolation between environments, hostile input."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from pressluft_core.errors import ValidationError
from pressluft_core.jobs.handlers.envctl import node_names
from pressluft_core.models import DriftCheck, Environment, Job, Release, Site
from tests.wordpress.stack import Stack, http_get, mysql


@pytest.fixture(scope="module")
def production(stack: Stack) -> Environment:
    job = stack.core.sites.create(stack.token, "Ünïcode & <Friends>", "friends",
                                  node=stack.node_name)
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    return stack.env("friends", "production")


@pytest.fixture(scope="module")
def staging(stack: Stack, production: Environment) -> Environment:
    """Production holds a serialized option and a JSON-escaped URL before it is cloned."""
    url = production.preview_url
    db = node_names(production.id)
    value = f"{url}/wp-content/uploads/logo.png"
    serialized = f'a:2:{{s:4:"logo";s:{len(value)}:"{value}";s:4:"note";s:3:"ü!";}}'
    json_escaped = json.dumps({"link": url + "/shop"}).replace("/", "\\/")  # as WP writes
    mysql("INSERT INTO wp_options (option_name, option_value, autoload) VALUES "
          f"('e2e_serialized', '{serialized}', 'no'), "
          f"('e2e_json', '{json_escaped.replace(chr(92), chr(92) * 2)}', 'no')", db)
    # Enough uploads that the drift baseline's manifest outgrows the 10 KB output tail.
    uploads = stack.sites_root / production.site_id / production.id / "shared" / "uploads"
    for number in range(300):
        (uploads / f"photo-{number:03d}.jpg").write_bytes(b"jpeg %d" % number)
    subprocess.run(["chown", "-R", f"{db}:{db}", str(uploads)], check=True)
    job = stack.core.environments.clone(stack.token, "friends", "production", "Staging",
                                        "staging")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    return stack.env("friends", "staging")


def test_site_create_serves_wordpress_with_its_title(stack: Stack,
                                                     production: Environment) -> None:
    assert production.status == "active"
    assert Site.get_by_id(production.site_id).status == "active"
    assert Release.get_by_id(production.current_release_id).health_status == "healthy"
    status, body = http_get(production.preview_url)
    assert status == 200, body[:500]
    assert re.search(rb"<title>[^<]*\xc3\x9cn\xc3\xafcode (&amp;|&#038;) &lt;Friends&gt;",
                     body), body[:1000]
    login = stack.core.environments.login(stack.token, "friends", "production")
    assert login["user"] == "e2e" and len(login["password"]) >= 20
    for job in Job.select().where(Job.site_id == production.site_id):
        assert login["password"] not in stack.log(job.id)


def test_clone_serves_its_own_url_and_keeps_no_trace_of_production(
        stack: Stack, production: Environment, staging: Environment) -> None:
    prod_host = production.preview_url.split("://")[1]
    status, body = http_get(staging.preview_url)
    assert status == 200 and staging.preview_url.split("://")[1].encode() in body
    dump = subprocess.run(["mysqldump", node_names(staging.id)], capture_output=True,
                          check=True).stdout
    assert prod_host.encode() not in dump
    option = mysql("SELECT option_value FROM wp_options WHERE option_name = "
                   "'e2e_serialized'", node_names(staging.id)).strip()
    value = f"{staging.preview_url}/wp-content/uploads/logo.png"
    assert f's:{len(value)}:"{value}"' in option
    stored = mysql("SELECT option_value FROM wp_options WHERE option_name = 'e2e_json'",
                   node_names(staging.id))
    assert "\\/\\/" + staging.preview_url.split("://")[1] + "\\/shop" in stored, stored
    # Production untouched.
    assert prod_host in mysql("SELECT option_value FROM wp_options WHERE option_name = "
                              "'siteurl'", node_names(production.id))
    assert http_get(production.preview_url)[0] == 200
    # Quarantine and IDs that cannot collide with production's later ones.
    assert mysql("SELECT option_value FROM wp_options WHERE option_name = 'blog_public'",
                 node_names(staging.id)).strip() == "0"
    counters = mysql("SELECT TABLE_SCHEMA, AUTO_INCREMENT FROM information_schema.TABLES "
                     "WHERE TABLE_NAME = 'wp_posts'")
    values = dict(line.split("\t") for line in counters.splitlines())
    assert int(values[node_names(staging.id)]) >= int(values[node_names(production.id)]) \
        + 10_000_000
    baseline = DriftCheck.get_by_id(staging.last_drift_check_id)
    assert "wp_posts" in json.loads(baseline.db_checksums_json)["tables"]
    manifest = json.loads(baseline.file_checksums_json)["wp-content/uploads"]
    assert len(manifest) >= 300 and manifest["photo-007.jpg"][0] == len(b"jpeg 7")
    assert staging.source_environment_id == production.id


THEME_PAGE = ("<html><head><title><?php echo esc_html(get_bloginfo('name')); ?></title></head>"
              "<body><p>deployed-by-pressluft-e2e</p></body></html>\n")


def make_theme_repo(path: Path, functions: str = "") -> None:
    theme = path / "themes" / "e2e-theme"
    theme.mkdir(parents=True, exist_ok=True)
    (theme / "style.css").write_text("/*\nTheme Name: E2E Theme\n*/\n")
    (theme / "index.php").write_text(THEME_PAGE)
    (theme / "functions.php").write_text("<?php\n" + functions)
    git = ["git", "-C", str(path), "-c", "user.name=e2e", "-c", "user.email=e2e@example.com"]
    if not (path / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "theme"], check=True)


def test_deploy_from_git_then_a_fatal_release_rolls_back_automatically(
        stack: Stack, production: Environment, staging: Environment) -> None:
    repo = stack.sites_root.parent / f"repo-{stack.sites_root.name}"
    make_theme_repo(repo)
    job = stack.core.environments.deploy(stack.token, "friends", "production",
                                         git_url=str(repo), git_ref="main")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    mysql("UPDATE wp_options SET option_value = 'e2e-theme' WHERE option_name IN "
          "('template', 'stylesheet')", node_names(production.id))
    status, body = http_get(production.preview_url)
    assert status == 200 and b"deployed-by-pressluft-e2e" in body, body[:500]
    good = stack.env("friends", "production").current_release_id
    assert Release.get_by_id(good).source_type == "git"

    make_theme_repo(repo, functions="pressluft_no_such_function();\n")
    job = stack.core.environments.deploy(stack.token, "friends", "production",
                                         git_url=str(repo), git_ref="main")
    failed = stack.run(job.id)
    assert failed.status == "failed" and failed.error_code == "HEALTH_CHECK_FAILED"
    assert "rolled back automatically" in failed.error_message
    assert "health check failed" in stack.log(job.id) and "rolling back" in stack.log(job.id)
    env = stack.env("friends", "production")
    assert env.status == "active" and env.current_release_id == good
    assert Release.get_by_id(job.id).health_status == "unhealthy"
    status, body = http_get(production.preview_url)
    assert status == 200 and b"deployed-by-pressluft-e2e" in body

    # The release rolled back to predates e2e-theme: with it still active WordPress would
    # serve a white screen there, which the health check (rightly) calls unhealthy.
    mysql("UPDATE wp_options SET option_value = 'twentytwentythree' WHERE option_name IN "
          "('template', 'stylesheet')", node_names(production.id))
    job = stack.core.environments.rollback(stack.token, "friends", "production")
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    assert stack.env("friends", "production").current_release_id == \
        production.current_release_id


def as_user(user: str, *argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["runuser", "-u", user, "--", *argv], capture_output=True,
                          check=False)


def test_environments_are_isolated_from_each_other(
        stack: Stack, production: Environment, staging: Environment) -> None:
    prod_dir = stack.sites_root / production.site_id / production.id
    stage_user, prod_user = node_names(staging.id), node_names(production.id)
    assert as_user(stage_user, "cat", str(prod_dir / "shared" / "wp-config.php")
                   ).returncode != 0
    release = Path(Release.get_by_id(stack.env("friends", "production").current_release_id
                                     ).path)
    for user in (stage_user, prod_user):  # nobody but root writes into a release
        assert as_user(user, "touch", str(release / "owned.txt")).returncode != 0
        assert as_user(user, "touch", str(release / "wp-content" / "owned.txt")
                       ).returncode != 0
    assert as_user(prod_user, "cat", str(prod_dir / "shared" / "wp-config.php")
                   ).returncode == 0
    # PHP runs as the environment's own user ...
    probe = release / "e2e-whoami.php"
    probe.write_text("<?php echo 'user=' . posix_getpwuid(posix_geteuid())['name'];\n")
    try:
        status, body = http_get(production.preview_url, "/e2e-whoami.php")
        assert status == 200 and body.strip() == f"user={prod_user}".encode()
    finally:
        probe.unlink()
    # ... and never from uploads.
    evil = prod_dir / "shared" / "uploads" / "evil.php"
    assert as_user(prod_user, "sh", "-c", f"echo '<?php echo 7*6;' > {evil}").returncode == 0
    status, body = http_get(production.preview_url, "/wp-content/uploads/evil.php")
    assert status == 403 and b"42" not in body


@pytest.mark.parametrize(("name", "slug"), [
    ("x'; rm -rf / #", "../../etc"),
    ("Evil\n<?php system('id'); ?>", "evil"),
    ("ok name", "a; touch /tmp/pwned"),
])
def test_hostile_site_name_or_slug_is_refused_and_creates_nothing(
        stack: Stack, name: str, slug: str) -> None:
    before = subprocess.run(["getent", "passwd"], capture_output=True).stdout
    sites = set(stack.sites_root.iterdir()) if stack.sites_root.exists() else set()
    jobs = Job.select().count()
    with pytest.raises(ValidationError) as refused:
        stack.core.sites.create(stack.token, name, slug, node=stack.node_name)
    assert refused.value.field in ("name", "slug")
    assert Job.select().count() == jobs
    assert subprocess.run(["getent", "passwd"], capture_output=True).stdout == before
    assert (set(stack.sites_root.iterdir()) if stack.sites_root.exists() else set()) == sites


def test_archive_deploy_and_a_traversing_archive_changes_nothing(
        stack: Stack, production: Environment, tmp_path: Path) -> None:
    good = tmp_path / "plugin.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("plugins/e2e-plugin/e2e-plugin.php", "<?php\n/* Plugin Name: E2E */\n")
    job = stack.core.environments.deploy(stack.token, "friends", "production",
                                         archive=str(good))
    assert stack.run(job.id).status == "succeeded", stack.log(job.id)
    env = stack.env("friends", "production")
    release = Path(Release.get_by_id(env.current_release_id).path)
    assert (release / "wp-content/plugins/e2e-plugin/e2e-plugin.php").is_file()
    assert Release.get_by_id(env.current_release_id).source_ref == "plugin.zip"

    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(hostile, "w:gz") as tf:
        payload = b"<?php echo 'owned';"
        member = tarfile.TarInfo("../../../../../../tmp/pressluft-e2e-owned.php")
        member.size = len(payload)
        tf.addfile(member, io.BytesIO(payload))
    job = stack.core.environments.deploy(stack.token, "friends", "production",
                                         archive=str(hostile))
    failed = stack.run(job.id)
    assert failed.status == "failed" and "outside the release" in failed.error_message
    assert "nothing was switched" in failed.error_message
    after = stack.env("friends", "production")
    assert after.status == "active" and after.current_release_id == env.current_release_id
    assert not Path("/tmp/pressluft-e2e-owned.php").exists()
    assert http_get(production.preview_url)[0] == 200
