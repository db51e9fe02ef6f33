"""Commands that lay an environment out and switch it: prepare, the core release,
install, activate, inspect and remove.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import tempfile
from pathlib import Path

from .._common import (
    Failed,
    Refused,
    ensure_dir,
    install_lib,
    mysql,
    php_fpm,
    reload_nginx,
    reload_php_fpm,
    run,
    say,
    sql_string,
    wait_for,
    write_if_changed,
)
from .config import nginx_config, pool_config, salts_for, table_prefix, wp_config
from .env import Env
from .files import fix_release_permissions, link_shared, safe_extract

# -- commands -----------------------------------------------------------------------------

def cmd_prepare(data: dict) -> dict:
    """User, directories, wp-config.php, PHP-FPM pool, nginx block, database and DB user."""
    env = Env(data)
    changed: list[str] = []
    try:
        pwd.getpwnam(env.user)
    except KeyError:
        run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
             str(env.dir), "--shell", "/usr/sbin/nologin", env.user])
        changed.append(f"created user {env.user}")
    if "www-data" not in grp.getgrnam(env.user).gr_mem:
        run(["usermod", "-a", "-G", env.user, "www-data"])
        changed.append(f"www-data may read {env.user}'s files")
    ensure_dir(env.dir.parent, 0o755, "root", "root")
    ensure_dir(env.dir, 0o750, "root", env.user)
    ensure_dir(env.releases, 0o750, "root", env.user)
    ensure_dir(env.shared, 0o750, "root", env.user)
    ensure_dir(env.shared / "uploads", 0o750, env.user, env.user)
    for private in ("tmp", "logs", "mail"):
        ensure_dir(env.dir / private, 0o700, env.user, env.user)

    password = data.get("db_password")
    if not isinstance(password, str) or not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", password):
        raise Refused("db_password must be 16-128 characters of [A-Za-z0-9_-]")
    config = wp_config(env, data, salts_for(env))
    if write_if_changed(env.shared / "wp-config.php", config, 0o400, env.user, "root"):
        changed.append("wrote wp-config.php")

    mysql(f"CREATE DATABASE IF NOT EXISTS `{env.db_name}` CHARACTER SET utf8mb4 "
          "COLLATE utf8mb4_unicode_ci;\n"
          f"CREATE USER IF NOT EXISTS '{env.db_name}'@'localhost' IDENTIFIED BY "
          f"{sql_string(password)};\n"
          f"ALTER USER '{env.db_name}'@'localhost' IDENTIFIED BY {sql_string(password)};\n"
          f"GRANT ALL PRIVILEGES ON `{env.db_name}`.* TO '{env.db_name}'@'localhost';\n")

    _, version = php_fpm()
    pool_file = Path(f"/etc/php/{version}/fpm/pool.d/{env.pool_name}.conf")
    old_pool = pool_file.read_bytes() if pool_file.exists() else None
    if write_if_changed(pool_file, pool_config(env), 0o644):
        try:
            reload_php_fpm()
        except Failed:
            # A broken pool file must not stay: the next reload would take down every site.
            if old_pool is None:
                pool_file.unlink()
            else:
                pool_file.write_bytes(old_pool)
            raise
        changed.append(f"PHP-FPM pool {env.pool_name}")
    if not wait_for(env.socket, 15):
        raise Failed(f"PHP-FPM did not open {env.socket}")

    old_site = env.nginx_file.read_bytes() if env.nginx_file.exists() else None
    site_changed = write_if_changed(env.nginx_file, nginx_config(
        env, bool(data.get("quarantine"))), 0o644)
    if not env.nginx_link.is_symlink():
        env.nginx_link.symlink_to(env.nginx_file)
        site_changed = True
    if site_changed or changed:
        try:
            reload_nginx()
        except Failed:
            if old_site is None:
                env.nginx_file.unlink()
                env.nginx_link.unlink()
            else:
                env.nginx_file.write_bytes(old_site)
            raise
        changed.append(f"nginx server {env.server_name}")
    for line in changed:
        say(line)
    say("no changes" if not changed else f"changed: {len(changed)}")
    return {"changed": len(changed)}


def core_source(source: object, work: Path) -> Path:
    """The directory holding WordPress core (``wp-settings.php``) from a URL, a tarball or
    zip on the node, or a directory on the node."""
    if not isinstance(source, str) or not source:
        raise Refused("wordpress_source is empty")
    if re.match(r"https?://", source):
        archive = work / ("core.zip" if source.endswith(".zip") else "core.tar.gz")
        say(f"downloading {source}")
        run(["curl", "-fsSL", "--max-time", "600", "-o", str(archive), "--", source])
        safe_extract(archive, work / "x")
        found = work / "x"
    elif os.path.isdir(source):
        found = Path(source)
    elif os.path.isfile(source):
        safe_extract(Path(source), work / "x")
        found = work / "x"
    else:
        raise Failed(f"wordpress_source {source} is neither a URL nor a file or directory "
                     "on the node")
    for candidate in (found, found / "wordpress"):
        if (candidate / "wp-settings.php").is_file():
            return candidate
    raise Failed(f"wordpress_source {source} holds no WordPress core (no wp-settings.php)")


def cmd_core_release(data: dict) -> dict:
    """A first release made of WordPress core, shared files linked in."""
    env = Env(data)
    release = env.release_dir(data.get("release"))
    if (release / "wp-settings.php").is_file() and (release / "wp-config.php").is_symlink():
        say(f"release {release.name} is already built")
        return {"path": str(release)}
    with tempfile.TemporaryDirectory(dir=env.dir / "tmp") as work:
        core = core_source(data.get("wordpress_source"), Path(work))
        building = env.releases / f".{release.name}.building"
        shutil.rmtree(building, ignore_errors=True)
        shutil.copytree(core, building, symlinks=True)
        link_shared(env, building)
        fix_release_permissions(building)
        os.replace(building, release)
    say(f"built release {release.name} from {data.get('wordpress_source')}")
    return {"path": str(release)}


def cmd_install(data: dict) -> dict:
    env = Env(data)
    helper = install_lib(data.get("wp_helper"), "wp_helper.php")
    payload = {k: data.get(k) for k in ("title", "admin_user", "admin_email",
                                        "admin_password", "url")}
    proc = run(["php", helper, str(env.current), "install"], user=env.user,
               input=json.dumps(payload).encode(), timeout=300, check=False)
    answer = last_json(proc.stdout)
    if proc.returncode != 0 or not answer.get("installed"):
        raise Failed("WordPress install failed: " + (proc.stderr + proc.stdout).decode(
            errors="replace")[-2000:])
    say("WordPress installed" if answer.get("changed") else "WordPress was already installed")
    return answer


def last_json(output: bytes) -> dict:
    for line in reversed(output.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    return {}


def cmd_activate(data: dict) -> dict:
    """Point ``current`` at a release in one rename."""
    env = Env(data)
    release = env.release_dir(data.get("release"))
    if not release.is_dir():
        raise Failed(f"release {release.name} does not exist on the node")
    previous = os.readlink(env.current) if env.current.is_symlink() else None
    target = f"releases/{release.name}"
    if previous != target:
        temporary = env.dir / f".current.{os.getpid()}"
        if temporary.is_symlink():
            temporary.unlink()
        temporary.symlink_to(target)
        os.replace(temporary, env.current)
        say(f"current -> {target}" + (f" (was {previous})" if previous else ""))
        # No PHP-FPM reload: nginx hands PHP the resolved path ($realpath_root), so the new
        # release's files are new paths to opcache and the next request runs them; a
        # reload (USR2) answered 502 to requests in flight (seen by the promotion probe).
        if data.get("reload"):
            reload_php_fpm()
    else:
        say(f"current already -> {target}")
    return {"previous": previous}


def cmd_inspect(data: dict) -> dict:
    """The table prefix, the release ``current`` points at, and the wp-config flags a copy
    of the environment elsewhere must keep (quarantine, WP-Cron)."""
    env = Env(data)
    current = os.readlink(env.current) if env.current.is_symlink() else None
    config = (env.shared / "wp-config.php").read_text()
    return {"table_prefix": table_prefix(env), "current": current,
            "quarantine": "function pressluft_capture_mail" in config,
            "cron": "define('DISABLE_WP_CRON', true);" not in config}


def cmd_remove(data: dict) -> dict:
    """Everything ``prepare`` made, in reverse; each part skipped when already gone."""
    env = Env(data)
    mysql(f"DROP DATABASE IF EXISTS `{env.db_name}`;\n"
          f"DROP USER IF EXISTS '{env.db_name}'@'localhost';\n")
    if env.nginx_link.is_symlink() or env.nginx_file.exists():
        env.nginx_link.unlink(missing_ok=True)
        env.nginx_file.unlink(missing_ok=True)
        reload_nginx()
    _, version = php_fpm()
    pool_file = Path(f"/etc/php/{version}/fpm/pool.d/{env.pool_name}.conf")
    if pool_file.exists():
        pool_file.unlink()
        reload_php_fpm()
    shutil.rmtree(env.dir, ignore_errors=True)
    try:
        pwd.getpwnam(env.user)
        run(["userdel", env.user])
    except KeyError:
        pass
    try:
        grp.getgrnam(env.user)
        run(["groupdel", env.user])  # userdel keeps a group that still has www-data in it
    except KeyError:
        pass
    say(f"removed environment {env.env_id} from the node")
    return {}
