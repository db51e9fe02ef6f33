"""Node-side work on one WordPress environment (DESIGN.md §6, §7), run as root.

    python3 envctl.py <command>   < input.json

Copied to nodes and run by their ``python3`` (>= 3.9): one file, standard library only.
Inputs arrive as JSON on stdin and reach commands only as argv lists, never as shell text.
Human lines go to stdout (streamed into the job log); the last line is ``result: {json}``.
Every command is idempotent, so a retried job step finds finished work and moves on.
Exit status: 0 done, 1 failed (the reason on stderr), 2 bad input.

Layout (``env_dir`` = ``<sites_root>/<site_id>/<environment_id>``)::

    env_dir/              0750 root:<user>   (www-data is in <user>'s group to serve files)
      releases/<name>/    root-owned, immutable: PHP cannot change its own code
      current -> releases/<name>
      shared/wp-config.php  0400 <user>      (no other account reads the credentials)
      shared/uploads/     0750 <user>        (nginx refuses to run PHP from here)
      tmp/ logs/ mail/    0700 <user>
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import html
import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

NAME_RE = re.compile(r"[a-z][a-z0-9_]{2,31}")
ID_RE = re.compile(r"[0-9a-f-]{36}")
RELEASE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}")
HOST_RE = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
PREFIX_RE = re.compile(r"[A-Za-z0-9_]{1,20}")
ACME_SNIPPET = "/etc/nginx/snippets/pressluft-acme.conf"
LIB_DIR = Path("/usr/local/lib/pressluft")
AUTO_INCREMENT_OFFSET_DEFAULT = 10_000_000


class Refused(Exception):
    """Bad input: exit 2 with the reason."""


class Failed(Exception):
    """The work could not be done: exit 1 with the reason."""


def say(line: str) -> None:
    print(line, flush=True)


def run(argv: list[str], *, input: bytes | None = None, check: bool = True,
        timeout: float | None = None, user: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip() or proc.stdout.decode(
            errors="replace").strip()
        raise Failed(f"{argv[0] if not user else argv[4]} exited {proc.returncode}: "
                     f"{err[-2000:]}")
    return proc


# -- inputs -------------------------------------------------------------------------------

class Env:
    """One environment's names and paths, each checked before any use."""

    def __init__(self, data: dict) -> None:
        def need(key: str, pattern: re.Pattern[str]) -> str:
            value = data.get(key)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise Refused(f"{key} {value!r} is not valid")
            return value

        root = data.get("sites_root")
        if not isinstance(root, str) or not re.fullmatch(r"/[A-Za-z0-9/._-]*", root) \
                or ".." in root.split("/") or root.rstrip("/") == "":
            raise Refused(f"sites_root {root!r} is not valid")
        self.site_id = need("site_id", ID_RE)
        self.env_id = need("environment_id", ID_RE)
        self.user = need("user", NAME_RE)
        self.db_name = need("db_name", NAME_RE)
        self.server_name = need("server_name", HOST_RE)
        # The wildcard certificate (``wildcard.<preview domain>``) of an https preview URL:
        # the preview server block serves https with it when its name is under that domain.
        cert = data.get("tls_cert") or None
        if cert is not None and not (isinstance(cert, str) and cert.startswith("wildcard.")
                                     and HOST_RE.fullmatch(cert)):
            raise Refused(f"tls_cert {cert!r} is not a wildcard certificate name")
        under = cert is not None and re.fullmatch(
            r"[a-z0-9-]+\." + re.escape(cert[len("wildcard."):]), self.server_name)
        self.tls_cert = cert if under else None
        self.url = data.get("url")
        if not isinstance(self.url, str) or not re.fullmatch(
                r"https?://" + HOST_RE.pattern + r"(:[0-9]{1,5})?", self.url):
            raise Refused(f"url {self.url!r} is not valid")
        self.dir = Path(root.rstrip("/")) / self.site_id / self.env_id
        self.shared = self.dir / "shared"
        self.releases = self.dir / "releases"
        self.current = self.dir / "current"
        self.pool_name = f"pressluft-{self.user}"
        self.socket = f"/run/php/{self.pool_name}.sock"
        self.nginx_file = Path(f"/etc/nginx/sites-available/{self.pool_name}.conf")
        self.nginx_link = Path(f"/etc/nginx/sites-enabled/{self.pool_name}.conf")

    def release_dir(self, name: object) -> Path:
        if not isinstance(name, str) or not RELEASE_RE.fullmatch(name):
            raise Refused(f"release {name!r} is not valid")
        return self.releases / name


# -- services (systemd where it runs, the daemons directly where it does not) -------------

def php_fpm() -> tuple[str, str]:
    for candidate in sorted(Path("/usr/sbin").glob("php-fpm[0-9]*")):
        return str(candidate), candidate.name[len("php-fpm"):]
    raise Failed("php-fpm is not installed: run node provision first")


def systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def reload_php_fpm() -> None:
    binary, version = php_fpm()
    test = run([binary, "-t"], check=False)
    if test.returncode != 0:
        raise Failed("php-fpm configuration test failed: "
                     + test.stderr.decode(errors="replace")[-1000:])
    if systemd():
        run(["systemctl", "reload-or-restart", f"php{version}-fpm"])
        return
    pid_file = Path(f"/run/php/php{version}-fpm.pid")
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGUSR2)
    except (OSError, ValueError):
        Path("/run/php").mkdir(exist_ok=True)
        shutil.chown("/run/php", "www-data", "www-data")
        run(["setsid", binary, "--fpm-config", f"/etc/php/{version}/fpm/php-fpm.conf"])


def reload_nginx() -> None:
    test = run(["nginx", "-t", "-q"], check=False)
    if test.returncode != 0:
        raise Failed("nginx configuration test failed: "
                     + test.stderr.decode(errors="replace")[-1000:])
    if systemd():
        run(["systemctl", "reload-or-restart", "nginx"])
    elif Path("/run/nginx.pid").exists():
        run(["nginx", "-s", "reload"])
    else:
        run(["setsid", "nginx"])


def wait_for(path: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def mysql(sql: str, database: str | None = None) -> str:
    argv = ["mariadb", "--batch", "--skip-column-names"] + ([database] if database else [])
    return run(argv, input=sql.encode()).stdout.decode()


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- files ----------------------------------------------------------------------------------

CREDENTIALS_DIR = Path("/run/pressluft")


def db_password(env: Env) -> str:
    """The environment's MariaDB password, from its own wp-config.php (root reads it; the
    control plane's copy never travels on a command line)."""
    try:
        config = (env.shared / "wp-config.php").read_text()
    except OSError:
        raise Failed("wp-config.php is missing: prepare the environment first") from None
    found = re.search(r"define\('DB_PASSWORD', '([A-Za-z0-9_-]{16,128})'\);", config)
    if found is None:
        raise Failed("wp-config.php holds no DB_PASSWORD")
    return found.group(1)


def grant_name(database: str) -> str:
    """A database name as GRANT reads it: ``_`` is a wildcard there, so it is escaped."""
    return database.replace("_", "\\_")


class EnvironmentDatabase:
    """A ``mariadb`` client that connects as the environment's own MariaDB user (privileges
    on its own database only) and runs as the environment's Linux user, never as root: SQL
    that came from elsewhere cannot reach another environment, the server's users or its
    files, whatever it says.

    The credentials are in a 0400 file of the environment's user under /run (removed on
    exit; the directory lets nobody list it), never on a command line or in an environment
    variable: the user reads the same password in its own wp-config.php anyway. A scratch
    database beside the live one (a restore, an import, a promotion) is granted to the user
    while the load runs and revoked afterwards. The client runs with ``--sandbox`` (no
    client commands) and ``--local-infile=0`` (no ``LOAD DATA LOCAL``)."""

    def __init__(self, env: Env, database: str) -> None:
        self.env, self.database = env, database
        self.path: str | None = None

    def __enter__(self) -> list[str]:
        user = self.env.db_name
        if self.database != user:
            mysql(f"GRANT ALL PRIVILEGES ON `{grant_name(self.database)}`.* TO "
                  f"'{user}'@'localhost';")
        CREDENTIALS_DIR.mkdir(mode=0o711, exist_ok=True)
        os.chmod(CREDENTIALS_DIR, 0o711)
        handle, self.path = tempfile.mkstemp(prefix=f"{user}-", suffix=".cnf",
                                             dir=CREDENTIALS_DIR)
        with os.fdopen(handle, "w") as out:  # mkstemp: 0600, owned by root until chowned
            out.write(f"[client]\nuser={user}\npassword={db_password(self.env)}\n")
            os.fchmod(out.fileno(), 0o400)
            os.fchown(out.fileno(), pwd.getpwnam(self.env.user).pw_uid, -1)
        return [*self.as_user(), "mariadb", f"--defaults-file={self.path}",
                "--default-character-set=utf8mb4", "--local-infile=0", *sandbox(),
                self.database]

    def as_user(self) -> list[str]:
        return ["runuser", "-u", self.env.user, "--"]

    def dump(self) -> list[str]:
        """``mysqldump`` of this database as the same users as the client, options to
        follow (the credentials file must come first)."""
        assert self.path is not None, "dump() is for inside the with block"
        return [*self.as_user(), "mysqldump", f"--defaults-file={self.path}",
                "--default-character-set=utf8mb4"]

    def __exit__(self, *exc: object) -> None:
        if self.path:
            os.unlink(self.path)
        if self.database != self.env.db_name:
            mysql(f"REVOKE ALL PRIVILEGES ON `{grant_name(self.database)}`.* FROM "
                  f"'{self.env.db_name}'@'localhost';")


def write_if_changed(path: Path, content: str, mode: int, owner: str = "root",
                     group: str = "root") -> bool:
    """Atomic write; False when the file already held exactly this (mode/owner fixed too)."""
    same = path.is_file() and path.read_bytes() == content.encode()
    if not same:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        shutil.chown(tmp, owner, group)
        os.replace(tmp, path)
    else:
        os.chmod(path, mode)
        shutil.chown(path, owner, group)
    return not same


def ensure_dir(path: Path, mode: int, owner: str, group: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    shutil.chown(path, owner, group)


def fix_release_permissions(release: Path) -> None:
    run(["chown", "-R", "--no-dereference", "root:root", str(release)])
    run(["chmod", "-R", "u=rwX,go=rX", str(release)])


def link_shared(env: Env, release: Path) -> None:
    """Point the release at the environment's own config and uploads."""
    content = release / "wp-content"
    content.mkdir(exist_ok=True)
    uploads = content / "uploads"
    if uploads.is_symlink() or uploads.is_file():
        uploads.unlink()
    elif uploads.is_dir():
        shutil.rmtree(uploads)
    uploads.symlink_to(env.shared / "uploads")
    config = release / "wp-config.php"
    if config.is_symlink() or config.exists():
        config.unlink()
    config.symlink_to(env.shared / "wp-config.php")


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a .tar.gz/.tar.zst/.zip refusing members that would land outside ``dest``
    (absolute names, ``..``, links pointing out) and anything but files, dirs, symlinks."""
    dest_real = os.path.realpath(dest)

    def check(name: str, link: str | None = None) -> None:
        if name.startswith("/") or ".." in Path(name).parts or "\0" in name:
            raise Refused(f"archive member {name!r} would be written outside the release")
        if re.search(r"[\x00-\x1f\x7f]", name):
            raise Refused(f"archive member {name!r} has a control character in its name")
        if link is not None:
            target = os.path.normpath(os.path.join(dest_real, os.path.dirname(name), link))
            if link.startswith("/") or not (target + "/").startswith(dest_real + "/"):
                raise Refused(f"archive member {name!r} links outside the release ({link})")

    name = archive.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                check(info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise Refused(f"archive member {info.filename!r} is a symlink (not "
                                  "allowed in zip archives)")
            zf.extractall(dest)
        return
    if name.endswith(".tar.zst"):
        plain = dest.parent / (dest.name + ".tar")
        run(["zstd", "-q", "-d", "-f", str(archive), "-o", str(plain)])
        archive = plain
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        tree = TreeGuard()
        for member in members:
            if member.issym():
                check(member.name, member.linkname)
            elif member.islnk():
                check(member.name)
                check(member.linkname)
            elif member.isfile() or member.isdir():
                check(member.name)
            else:
                raise Refused(f"archive member {member.name!r} is a device or fifo")
            tree.check_links(member)
        for member in members:
            member.mode = (member.mode | 0o644) & 0o755
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
        tf.extractall(dest, members=members)
    if archive.name.endswith(".tar") and archive.parent == dest.parent:
        archive.unlink()


def tree_digest(path: Path) -> dict:
    """Count, bytes and a digest over (path, size, mtime) of every file under ``path``."""
    digest = hashlib.sha256()
    files = size = 0
    if path.is_dir():
        for base, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(base, name)
                stat = os.lstat(full)
                rel = os.path.relpath(full, path)
                digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(
                    errors="surrogateescape"))
                files += 1
                size += stat.st_size
    return {"files": files, "bytes": size, "sha256": digest.hexdigest()}


# -- WordPress config -------------------------------------------------------------------

def php_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def wp_config(env: Env, data: dict, salts: str) -> str:
    prefix = data.get("table_prefix", "wp_")
    if not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix):
        raise Refused(f"table_prefix {prefix!r} is not valid")
    quarantine = bool(data.get("quarantine"))
    lines = [
        "<?php",
        "// Managed by Pressluft: rewritten by every environment job, edits are lost.",
        "// wp-load.php defines ABSPATH before loading this file; a direct request does not.",
        "if (!defined('ABSPATH')) { exit; }",
        f"define('DB_NAME', {php_string(env.db_name)});",
        f"define('DB_USER', {php_string(env.db_name)});",
        f"define('DB_PASSWORD', {php_string(str(data['db_password']))});",
        "define('DB_HOST', 'localhost');",
        "define('DB_CHARSET', 'utf8mb4');",
        "define('DB_COLLATE', '');",
        f"define('WP_HOME', {php_string(env.url)});",
        f"define('WP_SITEURL', {php_string(env.url)});",
        "define('WP_ENVIRONMENT_TYPE', "
        f"{php_string(str(data.get('wp_environment', 'production')))});",
        "// Releases are immutable: updates are jobs (which run on a copy with this off).",
        "if (!defined('DISALLOW_FILE_MODS')) { define('DISALLOW_FILE_MODS', true); }",
        "define('AUTOMATIC_UPDATER_DISABLED', true);",
        f"define('WP_TEMP_DIR', {php_string(str(env.dir / 'tmp'))});",
        salts.rstrip(),
        f"$table_prefix = {php_string(prefix)};",
    ]
    if not data.get("cron", not quarantine):
        lines.append("define('DISABLE_WP_CRON', true);")
    if quarantine:
        mail_dir = php_string(str(env.dir / "mail"))
        lines += [
            "// Quarantine: outgoing mail is written to mail/ instead of being sent.",
            "function pressluft_capture_mail($short_circuit, $atts) {",
            "    $name = gmdate('Ymd\\THis\\Z') . '-' . bin2hex(random_bytes(4)) . '.json';",
            f"    file_put_contents({mail_dir} . '/' . $name, json_encode($atts));",
            "    return true;",
            "}",
            "$GLOBALS['wp_filter']['pre_wp_mail'][10][] = "
            "array('function' => 'pressluft_capture_mail', 'accepted_args' => 2);",
        ]
    lines += ["require_once ABSPATH . 'wp-settings.php';", ""]
    return "\n".join(lines)


def salts_for(env: Env) -> str:
    """Kept in a file of their own so rewriting wp-config.php does not log everybody out."""
    path = env.shared / "salts.php"
    if path.is_file():
        return path.read_text().split("\n", 1)[1]
    keys = ["AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
            "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"]
    body = "\n".join(f"define('{k}', '{secrets.token_urlsafe(48)}');" for k in keys) + "\n"
    write_if_changed(path, "<?php\n" + body, 0o400, env.user, "root")
    return body


def table_prefix(env: Env) -> str:
    text = (env.shared / "wp-config.php").read_text()
    match = re.search(r"^\$table_prefix = '([A-Za-z0-9_]+)';", text, re.M)
    if not match:
        raise Failed(f"no $table_prefix in {env.shared / 'wp-config.php'}")
    return match.group(1)


def pool_config(env: Env) -> str:
    return f"""; Managed by Pressluft: environment {env.env_id}
[{env.pool_name}]
user = {env.user}
group = {env.user}
listen = {env.socket}
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = ondemand
pm.max_children = 8
pm.process_idle_timeout = 30s
chdir = /
security.limit_extensions = .php
php_admin_value[upload_tmp_dir] = {env.dir}/tmp
php_admin_value[sys_temp_dir] = {env.dir}/tmp
php_admin_value[session.save_path] = {env.dir}/tmp
php_admin_value[error_log] = {env.dir}/logs/php-error.log
php_admin_flag[log_errors] = on
php_admin_value[upload_max_filesize] = 64M
php_admin_value[post_max_size] = 64M
"""


def listens(port: int, extra: str = "") -> str:
    lines = f"    listen {port}{extra};\n"
    if Path("/proc/net/if_inet6").exists():
        lines += f"    listen [::]:{port}{extra};\n"
    return lines


def nginx_config(env: Env, noindex: bool) -> str:
    """The preview server block: WordPress on port 80, or — for an https preview URL, with
    the wildcard certificate — on 443, port 80 then only answering ACME challenges and
    redirecting to https."""
    robots = '    add_header X-Robots-Tag "noindex, nofollow" always;\n' if noindex else ""
    wordpress = f"""    root {env.current};
    index index.php;
    client_max_body_size 64m;
    access_log /var/log/nginx/{env.pool_name}.access.log;
    error_log /var/log/nginx/{env.pool_name}.error.log;
{robots}
    location = /wp-config.php {{ deny all; }}
    location ~ /\\.(?!well-known/) {{ deny all; }}
    # Uploads are data: nothing under them ever runs as PHP.
    location ~* ^/wp-content/uploads/.*\\.(php[0-9]?|phtml|phar|pht)(/|$) {{ deny all; }}

    location / {{
        try_files $uri $uri/ /index.php?$args;
    }}
    location ~ \\.php$ {{
        try_files $uri =404;
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;
        fastcgi_param DOCUMENT_ROOT $realpath_root;
        fastcgi_pass unix:{env.socket};
    }}
"""
    head = f"# Managed by Pressluft: environment {env.env_id}\n"
    if env.tls_cert is None:
        return (f"{head}server {{\n{listens(80)}    server_name {env.server_name};\n"
                f"    include {ACME_SNIPPET};\n{wordpress}}}\n")
    live = Path("/etc/letsencrypt/live", env.tls_cert)
    if not (live / "fullchain.pem").is_file() or not (live / "privkey.pem").is_file():
        raise Failed(f"no certificate {env.tls_cert} on this node ({live}): an https preview "
                     "URL needs the wildcard preview certificate (`pressluft domain "
                     "preview-cert NODE`)")
    return (f"{head}server {{\n{listens(80)}    server_name {env.server_name};\n"
            f"    include {ACME_SNIPPET};\n"
            f"    location / {{ return 301 https://$host$request_uri; }}\n}}\n"
            f"server {{\n{listens(443, ' ssl http2')}    server_name {env.server_name};\n"
            f"    ssl_certificate {live}/fullchain.pem;\n"
            f"    ssl_certificate_key {live}/privkey.pem;\n{wordpress}}}\n")


def install_lib(source: object, name: str) -> str:
    """Copy an uploaded helper where every environment user may read it (the upload
    lives in the SSH user's private cache)."""
    if not isinstance(source, str) or not os.path.isfile(source):
        raise Refused(f"helper {name} {source!r} is not a file")
    ensure_dir(LIB_DIR, 0o755, "root", "root")
    target = LIB_DIR / name
    write_if_changed(target, Path(source).read_text(), 0o644)
    return str(target)


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


# What WordPress and PHP print on a broken page. Only their own markup counts: a post that
# quotes "Fatal error: …" in prose must not roll a healthy release back.
FATAL_MARKERS = ("There has been a critical error on this website",
                 "<b>Fatal error</b>:", "<b>Parse error</b>:",
                 "Error establishing a database connection")
LOG_FATAL = re.compile(r"PHP (Fatal|Parse) error|PHP Fatal|Uncaught ")
MAX_BODY = 8 * 1024 * 1024


def fetch(env: Env, path: str, timeout: float) -> tuple[str, float, bytes]:
    """GET ``path`` from nginx on this node with the environment's host name, redirects
    not followed: (status, seconds, body)."""
    port = 443 if env.url.startswith("https://") else 80
    with tempfile.NamedTemporaryFile() as body:
        proc = run(["curl", "-s", "-k", "-o", body.name, "-w", "%{http_code} %{time_total}",
                    "--max-time", str(timeout), "--max-filesize", str(MAX_BODY),
                    "-H", "User-Agent: Pressluft-Health/1", "--resolve",
                    f"{env.server_name}:{port}:127.0.0.1", f"{env.url}{path}"], check=False)
        code, _, took = proc.stdout.decode().strip().partition(" ")
        return code or "000", float(took or 0), Path(body.name).read_bytes()


def loose(text: str) -> str:
    """Letters and digits only, lower-case: WordPress escapes and texturizes a title
    (``&amp;``, curly quotes, dashes) before it reaches the page."""
    return re.sub(r"[\W_]+", "", html.unescape(text)).lower()


def page_verdict(code: str, took: float, body: bytes, expected: str, limit: float) -> str:
    """``ok`` for a WordPress page, else what is wrong with the evidence."""
    size = len(body)
    text = body.decode(errors="replace")
    error = next((marker for marker in FATAL_MARKERS if marker in text), None)
    if error is not None:
        start = text.find(error)
        evidence = " ".join(re.sub(r"<[^>]+>", " ", text[start:start + 200]).split())
        return f"HTTP {code}, {size} bytes, a PHP error on the page: {evidence[:160]!r}"
    if code != "200":
        return f"HTTP {code} ({size} bytes)"
    if not text.strip():
        return "HTTP 200 with an empty body (a white screen)"
    if "</html>" not in text.lower():
        return f"HTTP 200, {size} bytes without </html> (the page stopped part-way)"
    if expected and loose(expected) not in loose(text):
        return f"HTTP 200, {size} bytes, but {expected!r} is not on the page"
    if took > limit:
        return f"HTTP 200 after {took:.1f} s (the limit is {limit:g} s)"
    return "ok"


def new_fatal_lines(log: Path, offset: int) -> list[str]:
    if not log.is_file():
        return []
    with open(log, "rb") as handle:
        handle.seek(offset if offset <= log.stat().st_size else 0)
        text = handle.read(1 << 20).decode(errors="replace")
    return [line.strip()[:300] for line in text.splitlines() if LOG_FATAL.search(line)]


def cmd_health(data: dict) -> dict:
    """Whether the environment serves WordPress, told truthfully (issue 19): the front page
    answers 200 with a WordPress page (not empty, ends with ``</html>``, no PHP error or
    "critical error" text, the site's title or the operator's expected text on it, within
    ``max_seconds``), ``wp-login.php`` answers 200, WordPress loads with its theme and
    plugins and queries its database, and no new PHP fatal error reached the environment's
    error log meanwhile. ``rounds`` checks a few seconds apart (two after a switch): every
    round must pass. Each part's verdict comes back with its evidence."""
    env = Env(data)
    timeout = float(data.get("timeout", 10))
    limit = float(data.get("max_seconds") or 5)
    rounds = max(1, min(int(data.get("rounds") or 1), 5))
    gap = float(data.get("gap_seconds", 2))
    helper = install_lib(data.get("wp_helper"), "wp_helper.php")
    log = env.dir / "logs" / "php-error.log"
    offset = log.stat().st_size if log.is_file() else 0
    checks: dict[str, str] = {}
    for number in range(1, rounds + 1):
        found: dict[str, str] = {}
        try:
            status = run(["php", helper, str(env.current), "status"], user=env.user,
                         input=json.dumps({"url": env.url}).encode(), timeout=timeout,
                         check=False)
            answer = last_json(status.stdout)
            error = status.stderr.decode(errors="replace").strip().splitlines()
            why = error[-1][:300] if error else f"exit {status.returncode}"
            found["installed"] = "ok" if answer.get("installed") else f"no: {why}"
            found["db"] = "ok" if answer.get("db") else f"no: {why}"
        except subprocess.TimeoutExpired:
            answer = {}
            found["installed"] = found["db"] = f"no answer within {timeout:g} s"
        expected = str(data.get("expected_text") or answer.get("name") or "")
        for attempt in (1, 2):  # a connection that did not answer is tried once more
            code, took, body = fetch(env, "/", timeout)
            if code != "000" or attempt == 2:
                break
            time.sleep(1)
        found["page"] = page_verdict(code, took, body, expected, limit)
        code, _, body = fetch(env, "/wp-login.php", timeout)
        found["login"] = "ok" if code == "200" and b"user_login" in body else \
            f"HTTP {code} ({len(body)} bytes)"
        fatal = new_fatal_lines(log, offset)
        found["php_log"] = "ok" if not fatal else f"new PHP fatal error: {fatal[-1]}"
        for name, verdict in found.items():
            if checks.get(name, "ok") == "ok":
                checks[name] = verdict
        say(f"health round {number}/{rounds}: " + ", ".join(f"{k} {v}" for k, v in
                                                            found.items()))
        if number < rounds:
            time.sleep(gap)
    healthy = all(v == "ok" for v in checks.values())
    return {"healthy": healthy, "checks": checks}


def cmd_inspect(data: dict) -> dict:
    """The table prefix, the release ``current`` points at, and the wp-config flags a copy
    of the environment elsewhere must keep (quarantine, WP-Cron)."""
    env = Env(data)
    current = os.readlink(env.current) if env.current.is_symlink() else None
    config = (env.shared / "wp-config.php").read_text()
    return {"table_prefix": table_prefix(env), "current": current,
            "quarantine": "function pressluft_capture_mail" in config,
            "cron": "define('DISABLE_WP_CRON', true);" not in config}


# Rows of wp_options that change on their own (WordPress noise): left out of the options
# checksum so "changed since the clone" means a person or a plugin changed a setting.
OPTIONS_NOISE = ("\\_transient\\_%", "\\_site\\_transient\\_%", "cron", "%session%",
                 "action_scheduler\\_%", "recently\\_%", "%\\_lock")
NOISE_TABLES = re.compile(r"(sessions?|actionscheduler_logs|wc_sessions|woocommerce_sessions)$")


def table_checksum(database: str, table: str, prefix: str) -> dict:
    """Row count plus ``CHECKSUM TABLE`` (one pass each); the options table is summed
    without its noise rows instead (CRC32 of each row, XORed)."""
    if table == f"{prefix}options":
        noise = " AND ".join(f"option_name NOT LIKE '{n}'" for n in OPTIONS_NOISE)
        count, crc = mysql(
            "SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT_WS(CHAR(0), option_name, "
            f"option_value, autoload))), 0) FROM `{table}` WHERE {noise}", database).split()
        return {"rows": int(count), "checksum": f"options:{crc}"}
    rows = mysql(f"SELECT COUNT(*) FROM `{table}`", database).strip()
    checksum = mysql(f"CHECKSUM TABLE `{table}`", database).split()[-1]
    return {"rows": int(rows), "checksum": checksum}


def file_manifest(root: Path, known: dict) -> dict:
    """relative path -> [size, mtime_ns, sha256] of every file under ``root``; a file whose
    size and mtime match ``known`` keeps its known hash instead of being read again."""
    manifest: dict[str, list] = {}
    if not root.is_dir():
        return manifest
    for base, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(base, name)
            stat = os.lstat(full)
            rel = os.path.relpath(full, root)
            before = known.get(rel)
            if before and before[0] == stat.st_size and before[1] == stat.st_mtime_ns:
                manifest[rel] = before
                continue
            digest = hashlib.sha256()
            if not os.path.islink(full):
                with open(full, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
            manifest[rel] = [stat.st_size, stat.st_mtime_ns, digest.hexdigest()]
    return manifest


def cmd_checksums(data: dict) -> dict:
    """Checksums of the named (protected) tables, of every other table when ``all_tables``
    (noise tables left out), and a manifest of each protected path: the drift baseline and
    every drift check read the same numbers."""
    env = Env(data)
    prefix = table_prefix(env)
    existing = _tables(env.db_name)
    protected = set()
    for name in data.get("tables", []):
        if not isinstance(name, str) or not re.fullmatch(r"[a-z_]{1,64}", name):
            raise Refused(f"table {name!r} is not valid")
        protected.add(prefix + name)
    tables = {t: table_checksum(env.db_name, t, prefix) for t in existing if t in protected}
    others = {}
    if data.get("all_tables"):
        others = {t: table_checksum(env.db_name, t, prefix) for t in existing
                  if t not in protected and not NOISE_TABLES.search(t)}
    paths: dict[str, dict] = {}
    known = data.get("known_files") or {}
    for rel in data.get("paths", []):
        if rel != "wp-content/uploads":
            raise Refused(f"path {rel!r} is not a protected path")
        paths[rel] = file_manifest(env.shared / "uploads", known.get(rel) or {})
    say(f"checksums: {len(tables)} protected tables, {len(others)} others, "
        f"{sum(len(m) for m in paths.values())} files")
    return {"tables": tables, "others": others, "paths": paths, "prefix": prefix,
            "all": existing}


def fresh_building_dir(env: Env, release: Path) -> Path:
    building = env.releases / f".{release.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    return building


def finish_release(env: Env, building: Path, release: Path) -> None:
    link_shared(env, building)
    fix_release_permissions(building)
    shutil.rmtree(release, ignore_errors=True)
    os.replace(building, release)


def copy_current(env: Env, building: Path) -> None:
    if not env.current.is_symlink():
        raise Failed("the environment has no current release to build on")
    run(copy_tree_argv(os.path.realpath(env.current), building))


def copy_tree_argv(source: str, target: Path) -> list[str]:
    """``cp -a --reflink=auto``: on a filesystem that shares extents (btrfs, XFS with
    reflink) the copy costs metadata only and each side's later writes stay its own; on
    any other it is a plain copy. Hard links are never made between environments: a file
    is one inode with one owner, so a hard-linked upload would be either unwritable by the
    copy's user or, once chowned, another environment's file, and an in-place edit on one
    side would change the other."""
    return ["cp", "-a", "--reflink=auto", "--", source, str(target)]


def start_uploads_copy(source: Env, env: Env) -> subprocess.Popen[bytes]:
    """Replace this environment's uploads with a copy of ``source``'s (owned by this
    environment's user once ``finish_uploads_copy`` ran); runs while the database copies."""
    target = env.shared / "uploads"
    for entry in list(target.iterdir()) if target.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    target.mkdir(exist_ok=True)
    return subprocess.Popen(copy_tree_argv(f"{source.shared / 'uploads'}/.", target),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_uploads_copy(env: Env, copying: subprocess.Popen[bytes]) -> None:
    err = copying.communicate()[1]
    if copying.returncode != 0:
        raise Failed(f"copying uploads failed (cp exited {copying.returncode}): "
                     f"{err.decode(errors='replace')[-2000:]}")
    uploads = env.shared / "uploads"
    run(["chown", "-R", "--no-dereference", f"{env.user}:{env.user}", str(uploads)])
    os.chmod(uploads, 0o750)
    say(f"copied uploads ({tree_digest(uploads)['files']} files)")


def cmd_clone(data: dict) -> dict:
    """Code, uploads and database of ``source`` into this environment (prepared already),
    all on this node: the database copied inside MariaDB with URLs rewritten
    (``copy_database``), code and uploads by ``cp`` meanwhile, then AUTO_INCREMENT raised
    above the source's."""
    env = Env(data)
    source = Env(data.get("source") or {})
    release = env.release_dir(data.get("release"))
    replacer = install_lib(data.get("replacer"), "search_replace.py")
    pairs = replacement_pairs(data)
    offset = int(data.get("auto_increment_offset", AUTO_INCREMENT_OFFSET_DEFAULT))

    mysql(f"DROP DATABASE IF EXISTS `{env.db_name}`; CREATE DATABASE `{env.db_name}` "
          "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;")
    if not source.current.is_symlink():
        raise Failed("the source environment has no current release to copy")
    building = fresh_building_dir(env, release)
    code = subprocess.Popen(copy_tree_argv(os.path.realpath(source.current), building),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    uploads = start_uploads_copy(source, env)
    try:
        copy_database(source.db_name, env, env.db_name, _tables(source.db_name), replacer,
                      pairs)
    finally:
        code_err = code.communicate()[1]
        if code.returncode == 0:
            finish_release(env, building, release)
            say(f"copied code of {os.readlink(source.current)} into release {release.name}")
        finish_uploads_copy(env, uploads)
    if code.returncode != 0:
        raise Failed(f"copying the code failed (cp exited {code.returncode}): "
                     f"{code_err.decode(errors='replace')[-2000:]}")
    say(f"database {source.db_name} copied to {env.db_name} with URLs rewritten")

    after_copy(env, source.db_name, offset, bool(data.get("quarantine")))
    return {"path": str(release)}


def replacement_pairs(data: dict) -> list[list[str]]:
    pairs = data.get("replacements") or []
    if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) and s for s in p)
            for p in pairs):
        raise Refused("replacements must be [old, new] pairs of non-empty strings")
    return pairs


# -- same-server copies: tables copied inside MariaDB, only rows with the old URL rewritten
#
# Source and target on one server: the rows never leave it as SQL text. Each table is
# created from the source's own ``SHOW CREATE TABLE``, then filled by copying its InnoDB
# tablespace file (``FLUSH TABLES … FOR EXPORT``, ``cp --reflink=auto``, ``ALTER TABLE …
# IMPORT TABLESPACE``) or, where that does not apply (not InnoDB file-per-table, FULLTEXT
# indexes, partitions, a name that is not its file name), by ``INSERT … SELECT``. Measured
# on a 2-vCPU node with a 128 MB buffer pool, 280 MB of InnoDB tables: tablespace files
# 1.9 s (the source write-locked 0.7 s of it), INSERT … SELECT 24 s in one session and 16 s
# in two, ``mysqldump | mariadb`` 27 s: the copy is bound by InnoDB writing rows and
# indexes page by page, not by parsing SQL, and a file copy skips all of that. Then only
# the rows in which a text column holds an old host go through the replacer (dumped with
# ``--where``, rewritten, written back over themselves by primary key with ``REPLACE``).
# Tables without a primary key (their rows cannot be written back by key), views and
# tables with triggers (a CREATE TABLE does not bring those) take the dump path
# (``mysqldump | replacer | mariadb``) as before.
#
# Who runs what: root's client reads the catalogue (table names, keys, columns, ``SHOW
# CREATE TABLE``), holds ``FLUSH TABLES … FOR EXPORT`` (it needs the global RELOAD
# privilege, which no environment user has) while root copies the tablespace files, which
# nothing but the server reads. The target environment's MariaDB user creates, discards
# and imports its own tables; for ``INSERT … SELECT`` it is given ``SELECT`` (nothing else)
# on the source database for the length of the copy: the rows it reads there are the ones
# it is being given anyway, and the source cannot be changed through it. The replacer,
# ``mysqldump`` of the rows to rewrite and the ``mariadb`` that writes them back run as the
# environment's Linux user with its MariaDB credentials (``EnvironmentDatabase``).
#
# Consistency: the tablespace files of all tables are taken under one lock, so they show
# one instant, as ``mysqldump --single-transaction`` did; writers to those tables (a
# clone's production) wait meanwhile, about 0.25 s per 100 MB here. ``INSERT … SELECT``
# reads each table as one snapshot at READ COMMITTED, which takes no locks on the source
# (REPEATABLE READ's INSERT … SELECT would take shared locks on every source row).

# Column types that can hold a URL; JSON is LONGTEXT in MariaDB. ENUM and SET hold only
# the values their definition names.
TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "binary",
              "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
# Copy sessions run side by side: the copy is bound by one core per session.
COPY_SESSIONS = 2


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def copy_plan(database: str, wanted: list[str]) -> tuple[list[str], list[str]]:
    """``wanted`` split into the tables copied inside the server and those that take the
    dump path (views, tables without a primary key or with triggers, names the batch
    client would have escaped)."""
    rows = mysql(
        "SELECT t.TABLE_NAME, t.TABLE_TYPE = 'BASE TABLE' AND EXISTS (SELECT 1 FROM "
        "information_schema.TABLE_CONSTRAINTS c WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND "
        "c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') AND NOT EXISTS "
        "(SELECT 1 FROM information_schema.TRIGGERS g WHERE g.EVENT_OBJECT_SCHEMA = "
        "t.TABLE_SCHEMA AND g.EVENT_OBJECT_TABLE = t.TABLE_NAME) AND NOT EXISTS (SELECT 1 "
        "FROM information_schema.COLUMNS k WHERE k.TABLE_SCHEMA = t.TABLE_SCHEMA AND "
        "k.TABLE_NAME = t.TABLE_NAME AND k.COLUMN_NAME REGEXP '[[:cntrl:]\\\\\\\\]') "
        f"FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = {sql_string(database)}")
    keyed = {name for name, ok in (line.split("\t") for line in rows.splitlines())
             if ok == "1"}
    return [t for t in wanted if t in keyed], [t for t in wanted if t not in keyed]


def catalogue(database: str) -> dict[str, dict]:
    """Per table: its size, the columns an INSERT writes (generated ones are computed)
    and the text columns."""
    tables: dict[str, dict] = {}
    for line in mysql("SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH FROM "
                      "information_schema.TABLES WHERE TABLE_SCHEMA = "
                      f"{sql_string(database)}").splitlines():
        name, size = line.split("\t")
        tables[name] = {"bytes": int(size) if size.isdigit() else 0, "columns": [],
                        "text": []}
    for line in mysql("SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_GENERATED FROM "
                      "information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                      f"{sql_string(database)} ORDER BY TABLE_NAME, ORDINAL_POSITION"
                      ).splitlines():
        table, column, kind, generated = line.split("\t")
        if table in tables and generated == "NEVER":
            tables[table]["columns"].append(column)
            if kind.lower() in TEXT_TYPES:
                tables[table]["text"].append(column)
    return tables


def create_statement(database: str, table: str) -> str:
    """The source's own CREATE TABLE (keys, foreign keys, charset, AUTO_INCREMENT: what
    mysqldump would have written)."""
    out = run(["mariadb", "--batch", "--raw", "--skip-column-names",
               "--default-character-set=utf8mb4", database],
              input=f"SHOW CREATE TABLE {ident(table)}".encode()).stdout.decode()
    return out.split("\t", 1)[1].rstrip("\n")


@contextlib.contextmanager
def reading(user: str, database: str):  # type: ignore[no-untyped-def]
    """``SELECT`` on ``database`` for MariaDB user ``user`` while the block runs."""
    mysql(f"GRANT SELECT ON `{grant_name(database)}`.* TO '{user}'@'localhost';")
    try:
        yield
    finally:
        mysql(f"REVOKE SELECT ON `{grant_name(database)}`.* FROM '{user}'@'localhost';")


def url_needles(pairs: list[list[str]]) -> list[str]:
    """The host (with port) of each old URL: every form the replacer rewrites (as given,
    JSON-escaped, protocol-relative) contains it."""
    needles = []
    for old, _new in pairs:
        host = (old.split("//", 1)[1] if "//" in old else old).split("/", 1)[0]
        if not host:
            raise Refused(f"replacement {old!r} names no host")
        needles.append(host)
    return sorted(set(needles))


def holding(columns: list[str], needles: list[str],
            also: Callable[[str], str] | None = None) -> str:
    """SQL true for a row whose text columns hold a needle, byte for byte (the replacer
    matches case-sensitively); with ``also`` (column → SQL), only in a value it is true of."""
    patterns = [sql_string("%" + n.replace("\\", "\\\\").replace("%", "\\%")
                           .replace("_", "\\_") + "%") for n in needles]
    return " OR ".join(f"({ident(c)} LIKE BINARY {p}" + (f" AND {also(c)})" if also else ")")
                       for c in columns for p in patterns)


# MariaDB's REGEXP_REPLACE copies the whole value for each match it replaces: k matches
# in n bytes cost k·n (32,000 URLs in 640 KB took 2.7 s a step, 800,000 in 15 MB did not
# end in 20 minutes, and a KILL is not heard meanwhile). The server rewrites a value only
# while (occurrences of the old hosts) * (its bytes) stays under this, about 10 ms; a
# value with more goes to the replacer, which is linear.
INSIDE_WORK_LIMIT = 50_000_000


def rewritten_inside(serialized: str, needles: list[str]) -> Callable[[str], str]:
    """Column → SQL true for a value the server rewrites itself: not (maybe) serialized,
    and few enough matches for REGEXP_REPLACE (``REPLACE`` counts them, in linear time)."""
    def condition(column: str) -> str:
        c = ident(column)
        count = " + ".join(f"(LENGTH({c}) - LENGTH(REPLACE({c}, {sql_string(n)}, ''))) "
                           f"DIV {len(n.encode())}" for n in needles)
        return (f"(NOT {c} REGEXP {sql_string(serialized)} AND ({count}) * LENGTH({c}) <= "
                f"{INSIDE_WORK_LIMIT})")
    return condition


def left_for_replacer(serialized: str, needles: list[str]) -> Callable[[str], str]:
    inside = rewritten_inside(serialized, needles)
    return lambda column: f"NOT {inside(column)}"


def plain_update(table: str, columns: list[str], needles: list[str],
                 steps: list[tuple[str, str]], serialized: str) -> str:
    """An UPDATE that rewrites, inside the server, each of ``columns`` that holds a needle
    and ``rewritten_inside`` takes, by the replacer's own ``steps`` (``sql_rewrites``);
    other values are left for the replacer. It reports the table, the rows changed and
    the warnings (a regex the server gave up on is a warning, its value NULL)."""
    def rewritten(column: str) -> str:
        value = ident(column)
        for pattern, replacement in steps:
            value = f"REGEXP_REPLACE({value}, {sql_string(pattern)}, {sql_string(replacement)})"
        return value

    inside = rewritten_inside(serialized, needles)
    sets = ", ".join(f"{ident(c)} = IF({inside(c)}, {rewritten(c)}, {ident(c)})"
                     for c in columns)
    return (f"UPDATE {ident(table)} SET {sets} WHERE {holding(columns, needles, inside)};\n"
            f"SELECT {sql_string(table)}, ROW_COUNT(), @@warning_count;\n")


def load_replacer(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("pressluft_search_replace", path)
    if spec is None or spec.loader is None:
        raise Failed(f"cannot load the replacer at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_database(source_db: str, env: Env, target_db: str, tables: list[str],
                  replacer: str, pairs: list[list[str]]) -> None:
    """``tables`` of ``source_db`` into the empty ``target_db`` of ``env``, on this server,
    URLs rewritten (see the section's comment)."""
    inside, dumped = copy_plan(source_db, tables)
    shapes = catalogue(source_db)
    started = time.monotonic()
    target = EnvironmentDatabase(env, target_db)
    with target as client:
        dumping = start_dump_path(source_db, dumped, replacer, pairs, target, client)
        try:
            as_files = tablespace_tables(source_db, inside)
            copy_tablespaces(source_db, target_db, as_files, client)
            by_rows = [t for t in inside if t not in as_files]
            if by_rows:
                with reading(env.db_name, source_db):
                    copy_inside(source_db, by_rows, shapes, client)
        finally:
            finish_dump_path(dumping)
        say(f"copied {len(inside)} tables inside MariaDB ({len(as_files)} as tablespace "
            f"files, {len(by_rows)} by INSERT … SELECT) in "
            f"{time.monotonic() - started:.1f} s" + (
                f", {len(dumped)} through the dump path ({', '.join(dumped)})"
                if dumped else ""))
        if pairs:
            rewrite_rows(target_db, inside, shapes, pairs, replacer, target, client)


def tablespace_tables(database: str, tables: list[str]) -> list[str]:
    """Those of ``tables`` whose rows are one InnoDB file of their own that an IMPORT
    TABLESPACE takes whole: no FULLTEXT index (its auxiliary tables are not exported), no
    partitions, a name that is its file name."""
    rows = mysql(
        "SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = "
        f"{sql_string(database)} AND t.ENGINE = 'InnoDB' AND t.TABLE_TYPE = 'BASE TABLE' "
        "AND t.CREATE_OPTIONS NOT LIKE '%partitioned%' AND NOT EXISTS (SELECT 1 FROM "
        "information_schema.STATISTICS i WHERE i.TABLE_SCHEMA = t.TABLE_SCHEMA AND "
        "i.TABLE_NAME = t.TABLE_NAME AND i.INDEX_TYPE = 'FULLTEXT')").split()
    folder = datadir() / database
    return [t for t in tables if t in rows and re.fullmatch(r"[A-Za-z0-9_]{1,64}", t)
            and (folder / f"{t}.ibd").is_file()]


def datadir() -> Path:
    return Path(mysql("SELECT @@datadir").strip())


def copy_tablespaces(source_db: str, target_db: str, tables: list[str],
                     client: list[str]) -> None:
    """Each table created empty and its tablespace discarded by the target's user; the
    source's files copied under one ``FOR EXPORT`` lock; imported by the target's user."""
    if not tables:
        return
    head = "SET SESSION foreign_key_checks = 0;\n"
    run(client, input=(head + "".join(
        f"{create_statement(source_db, t)};\nALTER TABLE {ident(t)} DISCARD TABLESPACE;\n"
        for t in tables)).encode())
    source, target = datadir() / source_db, datadir() / target_db
    lock = subprocess.Popen(["mariadb", "--unbuffered", "--batch", "--skip-column-names",
                             source_db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert lock.stdin is not None and lock.stdout is not None and lock.stderr is not None
    try:
        lock.stdin.write(("SET SESSION lock_wait_timeout = 60;\nFLUSH TABLES "
                          + ", ".join(ident(t) for t in tables)
                          + " FOR EXPORT;\nSELECT 'exported';\n").encode())
        lock.stdin.flush()
        if lock.stdout.readline().strip() != b"exported":
            raise Failed(f"FLUSH TABLES … FOR EXPORT on {source_db} failed: "
                         + lock.stderr.read().decode(errors="replace")[-1500:])
        run(["cp", "--reflink=auto", "--preserve=mode,ownership", "--",
             *[str(source / f"{t}.{ext}") for t in tables for ext in ("ibd", "cfg")],
             str(target)])
    finally:
        with contextlib.suppress(BrokenPipeError):
            lock.stdin.write(b"UNLOCK TABLES;\n")
            lock.stdin.close()
        lock.wait()
    try:
        run(client, input=(head + "".join(f"ALTER TABLE {ident(t)} IMPORT TABLESPACE;\n"
                                          for t in tables)).encode())
    finally:
        for table in tables:
            with contextlib.suppress(FileNotFoundError):
                (target / f"{table}.cfg").unlink()


def copy_inside(source_db: str, tables: list[str], shapes: dict[str, dict],
                client: list[str]) -> None:
    """CREATE TABLE + INSERT … SELECT per table, as the target's MariaDB user, in
    ``COPY_SESSIONS`` sessions side by side (the largest tables spread first)."""
    sessions: list[list[str]] = [[] for _ in range(COPY_SESSIONS)]
    loads = [0] * COPY_SESSIONS
    for table in sorted(tables, key=lambda t: -shapes[t]["bytes"]):
        lightest = loads.index(min(loads))
        columns = ", ".join(ident(c) for c in shapes[table]["columns"])
        sessions[lightest].append(
            f"{create_statement(source_db, table)};\n"
            f"INSERT INTO {ident(table)} ({columns}) SELECT {columns} FROM "
            f"{ident(source_db)}.{ident(table)};\n")
        loads[lightest] += shapes[table]["bytes"] + 1
    # mysqldump's own session settings: zero stays a value in an AUTO_INCREMENT column,
    # no strict mode, keys checked as the data was checked in the source.
    head = ("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;\n"
            "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO', foreign_key_checks = 0, "
            "unique_checks = 0;\n")
    running = []
    for statements in sessions:
        if statements:
            with tempfile.TemporaryFile() as script:
                script.write((head + "".join(statements)).encode())
                script.seek(0)
                running.append(subprocess.Popen(client, stdin=script,
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE))
    errors = [proc.communicate()[1] for proc in running]
    for proc in running:
        if proc.returncode != 0:
            raise Failed("copying tables inside MariaDB failed: "
                         + errors[running.index(proc)].decode(errors="replace")[-1500:])


def start_dump_path(source_db: str, tables: list[str], replacer: str,
                    pairs: list[list[str]], target: EnvironmentDatabase, client: list[str]
                    ) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """``mysqldump <tables> | replacer | mariadb`` for the tables the server cannot copy
    and rewrite by key; mysqldump reads as root, the rest runs as the environment."""
    if not tables:
        return []
    dump = subprocess.Popen(
        ["mysqldump", "--single-transaction", "--quick", "--skip-lock-tables",
         "--no-tablespaces", "--default-character-set=utf8mb4", source_db, *tables],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rewrite = subprocess.Popen(
        [*target.as_user(), "python3", replacer, *[s for p in pairs for s in p]],
        stdin=dump.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.Popen(client, stdin=rewrite.stdout, stderr=subprocess.PIPE)
    assert dump.stdout is not None and rewrite.stdout is not None
    dump.stdout.close()
    rewrite.stdout.close()
    return [("mariadb import", load), ("replacer", rewrite), ("mysqldump", dump)]


def finish_dump_path(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    errors = [(name, proc, proc.communicate()[1]) for name, proc in procs]
    for name, proc, err in reversed(errors):
        if proc.returncode != 0:
            raise Failed(f"dump path: {name} exited {proc.returncode}: "
                         f"{err.decode(errors='replace')[-2000:]}")


def rewrite_rows(database: str, tables: list[str], shapes: dict[str, dict],
                 pairs: list[list[str]], replacer: str, target: EnvironmentDatabase,
                 client: list[str]) -> None:
    """Only the rows of ``database`` whose text columns hold an old host are rewritten.
    Values that are plain text are rewritten by the server itself (``plain_update``) where
    the replacer can say how (``sql_rewrites``); the rest (serialized values, or every
    value when it cannot) go through the replacer: ``mysqldump --replace --where`` of
    those rows | replacer | mariadb, each row written back over itself by its primary key.
    Every other row stays as the server copied it, byte for byte."""
    needles = url_needles(pairs)
    texts = {t: shapes[t]["text"] for t in tables if shapes[t]["text"]}
    if not texts:
        return
    module = load_replacer(replacer)
    steps = module.sql_rewrites([(old, new) for old, new in pairs])
    serialized = module.SQL_MAYBE_SERIALIZED if steps else None
    left = left_for_replacer(serialized, needles) if serialized else None
    conditions = {t: holding(c, needles, left) for t, c in texts.items()}
    # The rows the replacer takes are counted (read-only, a snapshot of its own) while
    # the server rewrites the plain values of others: no value is in both sets.
    counting = start_script(client, "".join(
        f"SELECT {sql_string(t)}, COUNT(*) FROM {ident(t)} WHERE {c};\n"
        for t, c in conditions.items()))
    try:
        updated = update_plain_values(texts, shapes, needles, steps, serialized, client) \
            if steps and serialized else {}
    finally:
        counted, count_err = counting.communicate()
    if counting.returncode != 0:
        raise Failed("counting the rows with old URLs failed: "
                     + count_err.decode(errors="replace")[-1500:])
    rows = {t: int(n) for t, n in
            (line.rsplit("\t", 1) for line in counted.decode().splitlines())}
    matching = [t for t in conditions if rows.get(t)]
    if matching:
        replace_rows(database, matching, conditions, pairs, replacer, target, client)
    inside = sum(updated.values())
    say(f"URLs rewritten in {inside + sum(rows.values())} rows ({inside} inside MariaDB, "
        f"{sum(rows.values())} through the replacer) of "
        f"{len(set(matching) | {t for t, n in updated.items() if n})} tables")


def update_plain_values(texts: dict[str, list[str]], shapes: dict[str, dict],
                        needles: list[str], steps: list[tuple[str, str]], serialized: str,
                        client: list[str]) -> dict[str, int]:
    """``plain_update`` of every table, in ``COPY_SESSIONS`` sessions side by side (the
    largest tables spread first); rows changed per table."""
    sessions: list[list[str]] = [[] for _ in range(COPY_SESSIONS)]
    loads = [0] * COPY_SESSIONS
    for table in sorted(texts, key=lambda t: -shapes[t]["bytes"]):
        lightest = loads.index(min(loads))
        sessions[lightest].append(table)
        loads[lightest] += shapes[table]["bytes"] + 1
    running = [start_script(client, UPDATE_SESSION + "".join(
        plain_update(t, texts[t], needles, steps, serialized) for t in tables))
        for tables in sessions if tables]
    outputs = [proc.communicate() for proc in running]
    updated: dict[str, int] = {}
    for proc, (out, err) in zip(running, outputs, strict=True):
        if proc.returncode != 0:
            raise Failed("rewriting URLs inside MariaDB failed: "
                         + err.decode(errors="replace")[-1500:])
        for line in out.decode().splitlines():
            table, rows, warnings = line.rsplit("\t", 2)
            if int(warnings):
                raise Failed(f"rewriting URLs inside MariaDB left {warnings} warning(s) on "
                             f"table {table}: a value may not have been rewritten")
            updated[table] = int(rows)
    return updated


def start_script(client: list[str], script: str) -> subprocess.Popen[bytes]:
    """``client`` running ``script`` (from a file: nothing waits on a pipe to take it),
    its rows as tab-separated lines on stdout."""
    with tempfile.TemporaryFile() as source:
        source.write(script.encode())
        source.seek(0)
        return subprocess.Popen([*client[:-1], "--batch", "--skip-column-names", client[-1]],
                                stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# The copy's session settings for rewriting rows in place: strict (a rewritten value that
# no longer fits its column is an error, not a truncation), keys not re-checked (the rows
# were checked in the source; ON UPDATE actions must not reach other tables).
UPDATE_SESSION = ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO', "
                  "foreign_key_checks = 0;\n")


def replace_rows(database: str, tables: list[str], conditions: dict[str, str],
                 pairs: list[list[str]], replacer: str, target: EnvironmentDatabase,
                 client: list[str]) -> None:
    """The rows of ``tables`` matching their condition, through the replacer and written
    back over themselves by primary key."""
    rewrite = subprocess.Popen([*target.as_user(), "python3", replacer,
                                *[s for p in pairs for s in p]],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    load = subprocess.Popen(client, stdin=rewrite.stdout, stderr=subprocess.PIPE)
    assert rewrite.stdin is not None and rewrite.stdout is not None
    rewrite.stdout.close()
    dump_argv = [*target.dump(), "--single-transaction", "--quick",
                 "--skip-lock-tables", "--no-tablespaces", "--no-create-info",
                 "--skip-triggers", "--replace", "--skip-disable-keys",
                 "--skip-add-locks"]
    failed = None
    try:
        for table in tables:
            dump = subprocess.run([*dump_argv, f"--where={conditions[table]}", database,
                                   table], stdout=rewrite.stdin, stderr=subprocess.PIPE,
                                  check=False)
            if dump.returncode != 0:
                failed = (f"mysqldump of {table}'s rows with old URLs exited "
                          f"{dump.returncode}: "
                          f"{dump.stderr.decode(errors='replace')[-1500:]}")
                break
    finally:
        rewrite.stdin.close()
        rewrite_err = rewrite.stderr.read() if rewrite.stderr else b""
        rewrite.wait()
        load_err = load.communicate()[1]
    if failed:
        raise Failed(failed)
    if rewrite.returncode != 0 or load.returncode != 0:
        raise Failed(f"rewriting rows with old URLs failed (replacer exited "
                     f"{rewrite.returncode}, mariadb {load.returncode}): "
                     + (rewrite_err + load_err).decode(errors="replace")[-1500:])


def after_copy(env: Env, counted: str, offset: int, quarantine: bool) -> None:
    """What a clone gets after its database is copied: every AUTO_INCREMENT raised by
    ``offset`` above database ``counted``'s (so rows made on the clone never collide with
    production's at promotion), and search engines discouraged when quarantined."""
    counters = mysql(
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE "
        f"TABLE_SCHEMA = {sql_string(counted)} AND AUTO_INCREMENT IS NOT NULL")
    statements = []
    for line in counters.splitlines():
        table, value = line.split("\t")
        statements.append(f"ALTER TABLE `{table}` AUTO_INCREMENT = {int(value) + offset};")
    if statements:
        mysql("\n".join(statements), env.db_name)
    say(f"AUTO_INCREMENT raised by {offset} on {len(statements)} tables")
    if quarantine:
        prefix = table_prefix(env)
        mysql(f"UPDATE `{prefix}options` SET option_value = '0' "
              "WHERE option_name = 'blog_public'", env.db_name)
        say("search engines discouraged (blog_public = 0)")


def cmd_clone_finish(data: dict) -> dict:
    """``after_copy`` for a clone whose database came from another node (streamed and
    restored): its own counters, which the dump carried over from the source, are raised."""
    env = Env(data)
    after_copy(env, env.db_name, int(data.get("auto_increment_offset",
                                              AUTO_INCREMENT_OFFSET_DEFAULT)),
               bool(data.get("quarantine")))
    return {}


CONTAINERS = ("themes", "plugins", "mu-plugins")
# The node gets this file alone (standard library only), so the core's check of ``into``
# (deploy_source.INTO_RE) is repeated here rather than imported.
INTO_RE = re.compile(r"(themes|plugins|mu-plugins)/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def overlay(src: Path, building: Path, into: object = None) -> dict:
    """Merge a deployed tree into ``wp-content`` at the level operators think in: each
    theme under ``themes/``, each plugin under ``plugins/``, each mu-plugin replaces the
    same-named entry; any other top-level entry replaces its namesake; everything the tree
    does not mention is kept (``uploads`` is never touched). With ``into``
    (``themes/NAME``), the whole tree is that one theme or plugin. Returns the plan."""
    content = building / "wp-content"
    if into is not None:
        if not isinstance(into, str) or not INTO_RE.fullmatch(into):
            raise Refused(f"into {into!r} is not themes/NAME, plugins/NAME or "
                          "mu-plugins/NAME")
        entries = [(into, src)]
    else:
        refuse_single_package(src)
        entries = []
        for entry in sorted(src.iterdir()):
            if entry.name in (".git", "uploads"):
                continue
            if entry.name in CONTAINERS and entry.is_dir() and not entry.is_symlink():
                entries += [(f"{entry.name}/{child.name}", child)
                            for child in sorted(entry.iterdir())]
            else:
                entries.append((entry.name, entry))
    plan: dict[str, list[str]] = {"added": [], "replaced": [], "kept": []}
    for rel, source in entries:
        target = content / rel
        existed = target.is_symlink() or target.exists()
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, target, symlinks=True,
                            ignore=shutil.ignore_patterns(".git") if into else None)
        else:
            shutil.copy2(source, target, follow_symlinks=False)
        plan["replaced" if existed else "added"].append(rel)
    mentioned = {rel for rel, _ in entries}
    for container in CONTAINERS:
        if (content / container).is_dir():
            plan["kept"] += [f"{container}/{child.name}"
                             for child in sorted((content / container).iterdir())
                             if f"{container}/{child.name}" not in mentioned]
    return plan


def refuse_single_package(src: Path) -> None:
    """A repository that is one theme or plugin (style.css or a plugin header at its root)
    would spill its files into ``wp-content``: it needs ``into``."""
    if any((src / name).is_dir() for name in CONTAINERS):
        return
    style = src / "style.css"
    if style.is_file() and (found := re.search(r"Theme Name:\s*(.+)", style.read_text(
            errors="replace")[:8192])):
        raise Refused(f"the repository is one theme ({found.group(1).strip()}: style.css at "
                      f"its root): deploy it into themes/{slug_of(found.group(1))}")
    for php in sorted(src.glob("*.php")):
        if (found := re.search(r"Plugin Name:\s*(.+)", php.read_text(errors="replace")[:8192])):
            raise Refused(f"the repository is one plugin ({found.group(1).strip()}: {php.name} "
                          f"at its root): deploy it into plugins/{slug_of(found.group(1))}")


def slug_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:60] or "package"


def active_code(env: Env) -> dict:
    """The theme (stylesheet and template) and plugins WordPress runs now."""
    prefix = table_prefix(env)
    rows = mysql(f"SELECT option_name, option_value FROM `{prefix}options` WHERE option_name "
                 "IN ('template', 'stylesheet', 'active_plugins')", env.db_name)
    values = dict(line.split("\t", 1) for line in rows.splitlines() if "\t" in line)
    plugins = re.findall(r's:[0-9]+:"([^"]+)"', values.get("active_plugins", ""))
    return {"themes": sorted({values[k] for k in ("stylesheet", "template") if values.get(k)}),
            "plugins": plugins}


def missing_active_code(env: Env, building: Path) -> list[str]:
    """What the new release lacks of the active theme and plugins, in words."""
    content = building / "wp-content"
    active = active_code(env)
    missing = [f"the active theme {theme!r} (themes/{theme}/style.css)"
               for theme in active["themes"]
               if not (content / "themes" / theme / "style.css").is_file()]
    missing += [f"the active plugin {plugin!r} (plugins/{plugin})"
                for plugin in active["plugins"] if not (content / "plugins" / plugin).is_file()]
    return missing


def composer_install(env: Env, src: Path) -> None:
    if not (src / "composer.json").is_file():
        return
    if shutil.which("composer") is None:
        say("composer.json present but composer is not installed on the node: skipped")
        return
    as_user(env, ["composer", "install", "--no-dev", "--no-interaction", "--no-scripts",
                  "--no-plugins", "--prefer-dist", "--working-dir", str(src)],
            extra={"COMPOSER_HOME": str(src.parent / "composer")}, timeout=1200)
    say("composer install done")


def build_from(env: Env, release: Path, src: Path, data: dict) -> dict:
    """The new release: the current one with the tree merged in. Refused before anything
    serves it when it lacks the active theme or an active plugin (unless the operator
    allowed that)."""
    composer_install(env, src)
    building = fresh_building_dir(env, release)
    copy_current(env, building)
    try:
        plan = overlay(src, building, data.get("into") or None)
        missing = missing_active_code(env, building)
        if missing and not data.get("allow_missing") and not data.get("plan_only"):
            raise Refused("the new release lacks " + " and ".join(missing) + ": deactivate "
                          "it first, or deploy again allowing it")
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    for kind in ("added", "replaced", "kept"):
        say(f"{kind}: {', '.join(plan[kind]) or '-'}")
    if data.get("plan_only"):
        shutil.rmtree(building, ignore_errors=True)
        for line in missing:
            say(f"would be refused: the release lacks {line}")
        say("plan only: nothing was built into a release, nothing switched")
        return {**plan, "missing": missing}
    for line in missing:
        say(f"warning: the release lacks {line} (allowed by the operator)")
    finish_release(env, building, release)
    say(f"built release {release.name}")
    return plan


def cmd_release_from_git(data: dict) -> dict:
    env = Env(data)
    release = env.release_dir(data.get("release"))
    repo, ref = data.get("repo"), data.get("ref")
    if not isinstance(repo, str) or not repo or repo.startswith("-") or re.search(r"\s", repo):
        raise Refused(f"repository {repo!r} is not valid")
    if not isinstance(ref, str) or not re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", ref) \
            or ref.startswith("-") or ".." in ref:
        raise Refused(f"ref {ref!r} is not valid")
    git_env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/true",
               "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"}
    git = ["git", "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null"]
    with user_workdir(env) as work:
        src = work / "src"
        # A repository on the node belongs to someone else; git before 2.40 reads
        # safe.directory only from the global file, not from -c.
        (work / "gitconfig").write_text("[safe]\n\tdirectory = *\n")
        git_env["GIT_CONFIG_GLOBAL"] = str(work / "gitconfig")
        say(f"cloning {repo} (as {env.user})")
        as_user(env, [*git, "clone", "--quiet", "--no-checkout", "--", repo, str(src)],
                extra=git_env, timeout=600)
        commit = ""
        for candidate in (f"origin/{ref}", ref):
            proc = as_user(env, [*git, "-C", str(src), "rev-parse", "--verify", "--quiet",
                                 "--end-of-options", f"{candidate}^{{commit}}"], check=False,
                           extra=git_env)
            if proc.returncode == 0:
                commit = proc.stdout.decode().strip()
                break
        if not commit:
            raise Failed(f"ref {ref} not found in {repo}")
        as_user(env, [*git, "-C", str(src), "checkout", "--quiet", "--detach", commit],
                extra=git_env)
        shutil.rmtree(src / ".git")
        say(f"checked out {ref} at {commit}")
        plan = build_from(env, release, src, data)
    return {"path": str(release), "commit": commit, "plan": plan}


def cmd_release_from_archive(data: dict) -> dict:
    env = Env(data)
    release = env.release_dir(data.get("release"))
    archive = data.get("archive")
    if not isinstance(archive, str) or not os.path.isfile(archive) or not re.search(
            r"\.(tar\.gz|tgz|tar\.zst|zip)$", archive):
        raise Refused(f"archive {archive!r} is not a .tar.gz, .tar.zst or .zip file")
    with user_workdir(env) as work:
        src = work / "src"
        local = work / ("archive" + "".join(Path(archive).suffixes[-2:]))
        shutil.copyfile(archive, local)
        shutil.chown(local, env.user, env.user)
        as_user(env, ["python3", install_lib(os.path.abspath(__file__), "envctl.py"),
                      "extract", json.dumps({"archive": str(local), "dest": str(src)})])
        local.unlink()
        plan = build_from(env, release, src, data)
    return {"path": str(release), "plan": plan}


def cmd_extract(data: dict) -> dict:
    """Run as the environment's user: unpack a deploy archive (checked member by member)."""
    dest = Path(str(data.get("dest")))
    dest.mkdir(mode=0o750)
    safe_extract(Path(str(data.get("archive"))), dest)
    return {}


@contextlib.contextmanager
def user_workdir(env: Env):  # type: ignore[no-untyped-def]
    """A scratch directory the environment's user owns, for work on content from outside
    (git checkouts, archives, composer) done as that user; removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="deploy-", dir=env.dir / "tmp"))
    try:
        shutil.chown(work, env.user, env.user)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def as_user(env: Env, argv: list[str], extra: dict[str, str] | None = None,
            **kwargs) -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
    """``run`` as the environment's user, with nothing of root's environment (no root SSH
    agent, git or composer configuration); ``extra`` adds variables."""
    clean = {"PATH": os.environ["PATH"], "HOME": str(env.dir / "tmp"), "LANG": "C.UTF-8",
             **(extra or {})}
    return run(argv, user=env.user, env=clean, **kwargs)


def cmd_update_release(data: dict) -> dict:
    """A new release: a copy of the current one, updated by WordPress's own upgrader as the
    environment's user (the copy is theirs while it runs, root's again afterwards)."""
    env = Env(data)
    release = env.release_dir(data.get("release"))
    helper = install_lib(data.get("wp_helper"), "wp_helper.php")
    packages = []
    with tempfile.TemporaryDirectory(dir=env.dir / "tmp") as work:
        shutil.chown(work, env.user, env.user)
        for package in data.get("packages") or []:
            kind, path = package.get("type"), package.get("path")
            if kind not in ("plugin", "theme") or not isinstance(path, str) or \
                    not path.endswith(".zip") or not os.path.isfile(path):
                raise Refused(f"package {package!r} is not a plugin/theme .zip on the node")
            local = Path(work) / f"{len(packages)}-{Path(path).name}"
            shutil.copyfile(path, local)
            shutil.chown(local, env.user, env.user)
            packages.append({"type": kind, "path": str(local)})
        building = fresh_building_dir(env, release)
        copy_current(env, building)
        link_shared(env, building)
        run(["chown", "-R", "--no-dereference", f"{env.user}:{env.user}", str(building)])
        proc = run(["php", helper, str(building), "update"], user=env.user, check=False,
                   input=json.dumps({"scope": data.get("scope", "all"), "url": env.url,
                                     "packages": packages}).encode(), timeout=1800)
        answer = last_json(proc.stdout)
        for line in answer.get("updated", []):
            say(f"updated {line}")
        if proc.returncode != 0 or not answer:
            shutil.rmtree(building, ignore_errors=True)
            why = "; ".join(answer.get("failed", [])) or (proc.stderr + proc.stdout).decode(
                errors="replace")[-1500:]
            raise Failed(f"the WordPress upgrader failed: {why}")
        finish_release(env, building, release)
    say(f"built release {release.name}: {len(answer.get('updated', []))} update(s)")
    return {"path": str(release), "updated": answer.get("updated", [])}


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



# -- backups and restores (binary stream on stdout / stdin; human lines on stderr) ------------

CACHE_DIRS = {"cache", "et-cache", "litespeed", "w3tc-cache", "wp-rocket-cache"}


def wp_version(release: Path) -> str:
    text = (release / "wp-includes" / "version.php").read_text(errors="replace")
    match = re.search(r"^\$wp_version = '([^']+)';", text, re.M)
    return match.group(1) if match else "unknown"


def cmd_backup_estimate(data: dict) -> dict:
    """Sizes read before a backup: the multipart part size is chosen from them."""
    env = Env(data)
    db_bytes = int(mysql(
        "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = {sql_string(env.db_name)}").strip() or 0)
    release = Path(os.path.realpath(env.current))
    files = tree_digest(release / "wp-content")["bytes"] + tree_digest(
        env.shared / "uploads")["bytes"]
    return {"db_bytes": db_bytes, "files_bytes": files, "wordpress_version":
            wp_version(release), "table_prefix": table_prefix(env)}


def _excluded(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = info.name.split("/")
    if len(parts) >= 2 and parts[1] in CACHE_DIRS:
        return None
    if len(parts) >= 3 and parts[1] == "uploads" and parts[2] in CACHE_DIRS:
        return None
    return info


def cmd_backup_stream(data: dict) -> None:
    """The import format, zstd-compressed, on stdout: ``meta.json``, ``db.sql``, ``files/``
    (wp-content, uploads followed, cache dirs left out). The dump is staged compressed in
    the environment's private tmp/ (a tar member's size comes before its bytes) and removed;
    files are never staged."""
    env = Env(data)
    scope = data.get("scope")
    if scope not in ("db", "files", "full"):
        raise Refused(f"scope {scope!r} is not db, files or full")
    release = Path(os.path.realpath(env.current))
    meta = {"format": 1, "source_url": env.url, "site_id": env.site_id,
            "environment_id": env.env_id, "scope": scope,
            "wordpress_version": wp_version(release), "table_prefix": table_prefix(env),
            "backup_id": data.get("backup_id")}
    for stale in (env.dir / "tmp").glob("backup-*.sql.zst"):  # left by a killed stream
        stale.unlink(missing_ok=True)
    staged = env.dir / "tmp" / f"backup-{os.getpid()}.sql.zst"
    dump_size = 0
    try:
        if scope in ("db", "full"):
            with open(staged, "wb") as out:
                dump = subprocess.Popen(
                    ["mysqldump", "--single-transaction", "--quick", "--skip-lock-tables",
                     "--no-tablespaces", "--default-character-set=utf8mb4", env.db_name],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                pack = subprocess.Popen(["zstd", "-q", "-c", "-3"], stdin=subprocess.PIPE,
                                        stdout=out)
                assert dump.stdout is not None and pack.stdin is not None
                while chunk := dump.stdout.read(1 << 20):
                    dump_size += len(chunk)
                    pack.stdin.write(chunk)
                pack.stdin.close()
                err = dump.stderr.read() if dump.stderr else b""
                if dump.wait() != 0 or pack.wait() != 0:
                    raise Failed("mysqldump failed: " + err.decode(errors="replace")[-1000:])
            print(f"database dumped: {dump_size} bytes", file=sys.stderr, flush=True)
        compress = subprocess.Popen(["zstd", "-q", "-c", "-3", "-T0"], stdin=subprocess.PIPE,
                                    stdout=sys.stdout.buffer)
        assert compress.stdin is not None
        with tarfile.open(fileobj=compress.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            body = json.dumps(meta, indent=1).encode()
            info = tarfile.TarInfo("meta.json")
            info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
            tf.addfile(info, io_bytes(body))
            if scope in ("db", "full"):
                unpack = subprocess.Popen(["zstd", "-q", "-d", "-c", str(staged)],
                                          stdout=subprocess.PIPE)
                info = tarfile.TarInfo("db.sql")
                info.size, info.mtime, info.mode = dump_size, int(time.time()), 0o644
                tf.addfile(info, unpack.stdout)
                if unpack.wait() != 0:
                    raise Failed("reading the staged dump failed")
            if scope in ("files", "full"):
                content = release / "wp-content"
                for entry in sorted(content.iterdir()):
                    if entry.name == "uploads" or entry.name in CACHE_DIRS:
                        continue
                    tf.add(entry, arcname=f"files/{entry.name}", filter=_excluded)
                tf.add(env.shared / "uploads", arcname="files/uploads", filter=_excluded)
            if data.get("with_core"):  # a move: the target has no release to build on
                for entry in sorted(release.iterdir()):
                    if entry.name not in ("wp-content", "wp-config.php"):
                        tf.add(entry, arcname=f"core/{entry.name}")
        compress.stdin.close()
        if compress.wait() != 0:
            raise Failed("zstd failed")
    finally:
        staged.unlink(missing_ok=True)
    print("backup stream complete", file=sys.stderr, flush=True)


def io_bytes(body: bytes):  # type: ignore[no-untyped-def]
    import io
    return io.BytesIO(body)


def check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or ".." in Path(name).parts or "\0" in name:
        raise Refused(f"archive member {name!r} would be written outside its place")
    if re.search(r"[\x00-\x1f\x7f]", name):
        raise Refused(f"archive member {name!r} has a control character (a newline?) in "
                      "its name")
    if member.issym():
        link = member.linkname
        target = os.path.normpath(os.path.join("/x", os.path.dirname(name), link))
        if link.startswith("/") or not target.startswith("/x/"):
            raise Refused(f"archive member {name!r} links outside ({link})")
    elif member.islnk() or not (member.isfile() or member.isdir()):
        raise Refused(f"archive member {name!r} is not a file, directory or symlink")


class TreeGuard:
    """:func:`check_member` plus what only the whole archive shows: a symlink may point at
    its own directory or below (no ``..``), and nothing is written through one. Otherwise
    ``d -> .`` then ``e -> d/d/../..`` passes a per-member check and ``e/x`` lands above
    the tree."""

    def __init__(self) -> None:
        self.links: set[str] = set()

    def check(self, member: tarfile.TarInfo) -> None:
        check_member(member)
        self.check_links(member)

    def check_links(self, member: tarfile.TarInfo) -> None:
        parts = Path(member.name).parts
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in self.links:
                raise Refused(f"archive member {member.name!r} would be written through the "
                              f"symlink {'/'.join(parts[:depth])!r}")
        if member.issym():
            if ".." in Path(member.linkname).parts:
                raise Refused(f"archive member {member.name!r} links upwards "
                              f"({member.linkname})")
            self.links.add("/".join(parts))


UNSAFE_SKIP_SQL_CHECK = "PRESSLUFT_UNSAFE_SKIP_SQL_CHECK"  # tests only: never set by a job
DISK_RESERVE = 1 << 30


class SpaceBudget:
    """What an archive may unpack to: at most ``limit`` bytes and, where it lands on
    ``where``, the free space there less a reserve. Counted from the members' headers, so
    a compression bomb is refused at its first member too many, before it is written."""

    def __init__(self, limit: int, where: Path | None = None) -> None:
        self.allowed = limit
        if where is not None:
            self.allowed = min(limit, shutil.disk_usage(where).free - DISK_RESERVE)
        self.left, self.where = self.allowed, where

    def take(self, member: tarfile.TarInfo) -> None:
        self.left -= member.size
        if self.left < 0:
            space = f", the space left on {self.where}" if self.where else ""
            raise Refused(f"the archive unpacks to more than {max(self.allowed, 0) // 2**20} "
                          f"MiB (at {member.name!r}{space}): refused before anything is "
                          "written")


class Unpacker:
    """Files of an archive written by the environment's own user (``envctl.py unpack``
    under ``runuser``): root only reads the archive and forwards checked members, so even
    a member that slipped past the checks can only land where that user may write."""

    def __init__(self, env: Env, code: Path, uploads: Path, core: Path) -> None:
        for path in (code, uploads, core):
            shutil.rmtree(path, ignore_errors=True)
            ensure_dir(path, 0o750, env.user, env.user)
        me = install_lib(os.path.abspath(__file__), "envctl.py")
        self.proc = subprocess.Popen(
            ["runuser", "-u", env.user, "--", "python3", me, "unpack",
             json.dumps({"code": str(code), "uploads": str(uploads), "core": str(core)})],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stdin is not None
        self.tar = tarfile.open(  # noqa: SIM115 (closed by close(), after the last member)
            fileobj=self.proc.stdin, mode="w|", format=tarfile.PAX_FORMAT)
        self.tar.copybufsize = 1 << 20

    def add(self, member: tarfile.TarInfo, name: str, data) -> None:  # type: ignore[no-untyped-def]
        member.name = name
        member.pax_headers = {}  # its "path" would override the new name
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        try:
            self.tar.addfile(member, data if member.isfile() else None)
        except BrokenPipeError:
            self.close()

    def close(self) -> None:
        try:
            self.tar.close()
            self.proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        if self.proc.wait() != 0:
            why = [line for line in err.splitlines() if line.startswith("envctl: ")]
            message = why[-1][len("envctl: "):] if why else err[-1000:]
            raise (Refused if self.proc.returncode == 2 else Failed)(
                f"unpacking the archive's files failed: {message}")


def cmd_unpack(data: dict) -> dict:
    """Run as the environment's user: a tar stream of ``code/…``, ``uploads/…`` and
    ``core/…`` members on stdin, each checked again, extracted into the directories it
    was given."""
    dests = {name: Path(str(data[name])) for name in ("code", "uploads", "core")
             if data.get(name)}
    extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    tree = TreeGuard()
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
        for member in tf:
            tree.check(member)
            top, _, rel = member.name.partition("/")
            if top not in dests:
                raise Refused(f"unexpected member {member.name!r}")
            if not rel:
                continue
            member.name = rel
            tf.extract(member, dests[top], set_attrs=False, **extra)
    return {}


def restore_names(env: Env, restore_id: object) -> dict:
    if not isinstance(restore_id, str) or not re.fullmatch(r"[0-9a-f]{8}", restore_id):
        raise Refused(f"restore_id {restore_id!r} is not valid")
    return {"scratch_db": f"{env.db_name}_r{restore_id}", "old_db": f"{env.db_name}_o{restore_id}",
            "uploads_new": env.shared / f"uploads.restore-{restore_id}",
            "uploads_old": env.shared / f"uploads.old-{restore_id}"}


def cmd_restore_stream(data: dict) -> dict:
    """Read a backup (tar.zst) on stdin and stage it beside the live environment: database
    into a scratch database (URLs rewritten when it came from elsewhere), code as a new
    release, uploads as a new directory. Nothing live is touched until ``restore-swap``."""
    return stage_archive(data, sys.stdin.buffer)


def decompressor(head: bytes) -> list[str]:
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return ["zstd", "-q", "-d", "-c"]
    if head.startswith(b"\x1f\x8b"):
        return ["gzip", "-d", "-c"]
    raise Refused("the archive is neither .tar.zst nor .tar.gz")


def stage_archive(data: dict, source) -> dict:  # type: ignore[no-untyped-def]
    """``restore-stream``'s work on any compressed archive (a stream or a staged file).
    Root reads the archive; the SQL runs as the environment's MariaDB user after the SQL
    check, the files are written by the environment's Linux user (docs/security.md)."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    release = env.release_dir(data.get("release"))
    helpers = {"replacer": install_lib(data.get("replacer"), "search_replace.py"),
               "sqlguard": install_lib(data.get("sqlguard"), "sqlguard.py")}
    files_only = bool(data.get("files_only"))  # a move: the database comes on its own
    if not files_only:
        scratch_database(names["scratch_db"])
    building = fresh_building_dir(env, release)
    uploads_new = names["uploads_new"]
    code_new = env.dir / "tmp" / f"restore-{data.get('restore_id')}"
    core_new = env.dir / "tmp" / f"restore-core-{data.get('restore_id')}"
    shutil.rmtree(uploads_new, ignore_errors=True)
    limit = int(data.get("max_unpacked_bytes") or MAX_UNPACKED_BYTES)
    files_budget = SpaceBudget(limit, env.dir)
    db_budget = SpaceBudget(limit, Path("/var/lib/mysql") if Path("/var/lib/mysql").is_dir()
                            else env.dir)
    if source is sys.stdin.buffer:
        argv = ["zstd", "-q", "-d", "-c"]
    else:
        argv = decompressor(source.read(4))
        source.seek(0)
    unpack = subprocess.Popen(argv, stdin=source, stdout=subprocess.PIPE)
    meta: dict = dict(data.get("meta") or {})
    has = {"db": False, "files": False, "core": False}
    files: Unpacker | None = None
    tree = TreeGuard()
    assert unpack.stdout is not None
    try:
        with tarfile.open(fileobj=unpack.stdout, mode="r|") as tf:
            for member in tf:
                if member.name.startswith("./"):  # made with `tar -C dir .`
                    member.name = member.name[2:]
                if member.name in ("", "."):
                    continue
                tree.check(member)
                if member.name == "meta.json":
                    meta = {**json.loads(tf.extractfile(member).read()),  # type: ignore[union-attr]
                            **meta}
                    continue
                if not meta:
                    raise Refused("the archive does not start with meta.json")
                if member.name == "db.sql" and files_only:
                    raise Refused("db.sql in a files-only stream")
                if member.name == "db.sql":
                    db_budget.take(member)
                    import_dump(tf.extractfile(member), env, names["scratch_db"], helpers,
                                meta.get("source_url"), env.url)
                    has["db"] = True
                elif member.name.startswith("core/") and data.get("with_core") \
                        and has["files"]:
                    files_budget.take(member)  # after files/: the whole release, moved
                    has["core"] = True
                    files.add(member, member.name, tf.extractfile(member))  # type: ignore[union-attr]
                elif member.name == "files" or member.name.startswith("files/"):
                    files_budget.take(member)
                    if files is None:
                        files = Unpacker(env, code_new, uploads_new, core_new)
                        has["files"] = True
                    rel = member.name[len("files/"):] if member.name != "files" else ""
                    if rel == "uploads" or rel.startswith("uploads/"):
                        files.add(member, "uploads/" + rel[len("uploads"):].lstrip("/"),
                                  tf.extractfile(member))
                    elif rel:
                        files.add(member, "code/" + rel, tf.extractfile(member))
        if files is not None:
            files.close()
    except BaseException:
        if files is not None:
            files.proc.kill()
            files.proc.wait()
        for path in (code_new, uploads_new, core_new):
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        unpack.stdout.close()
    if unpack.wait() != 0:
        raise Failed("the archive stream could not be decompressed")
    if has["files"]:
        if has["core"]:
            os.replace(core_new, building)
        else:
            shutil.rmtree(core_new, ignore_errors=True)
            copy_current(env, building)
        shutil.rmtree(building / "wp-content", ignore_errors=True)
        os.replace(code_new, building / "wp-content")
        finish_release(env, building, release)
        os.chmod(uploads_new, 0o750)
    say(f"staged: database {'yes' if has['db'] else 'no'}, files "
        f"{'yes' if has['files'] else 'no'} (backup of {meta.get('source_url')})")
    return {"db": has["db"], "files": has["files"], "meta": meta}


def scratch_database(name: str) -> None:
    mysql(f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET "
          "utf8mb4 COLLATE utf8mb4_unicode_ci;")


def cmd_dump_stream(data: dict) -> None:
    """The environment's database on stdout, ``mysqldump | zstd``, nothing staged: a move
    streams it beside the files so that the dump, the transfer and the import overlap."""
    env = Env(data)
    dump = subprocess.Popen(
        ["mysqldump", "--single-transaction", "--quick", "--skip-lock-tables",
         "--no-tablespaces", "--default-character-set=utf8mb4", env.db_name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pack = subprocess.run(["zstd", "-q", "-c", "-3", "-T0"], stdin=dump.stdout,
                          stdout=sys.stdout.buffer, check=False)
    err = dump.stderr.read() if dump.stderr else b""
    if dump.wait() != 0 or pack.returncode != 0:
        raise Failed("mysqldump | zstd failed: " + err.decode(errors="replace")[-1000:])
    print("database streamed", file=sys.stderr, flush=True)


def cmd_restore_db_stream(data: dict) -> dict:
    """A ``dump-stream`` on stdin into the restore's scratch database, through the same SQL
    check, URL replacer (from ``source_url`` to this environment's URL when they differ)
    and unprivileged client as every other dump; nothing live is touched."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    helpers = {"replacer": install_lib(data.get("replacer"), "search_replace.py"),
               "sqlguard": install_lib(data.get("sqlguard"), "sqlguard.py")}
    source_url = data.get("source_url")
    if not isinstance(source_url, str) or not SOURCE_URL_RE.fullmatch(source_url):
        raise Refused(f"source_url {source_url!r} is not an http(s) URL")
    scratch_database(names["scratch_db"])
    unpack = subprocess.Popen(["zstd", "-q", "-d", "-c"], stdin=sys.stdin.buffer,
                              stdout=subprocess.PIPE)
    try:
        import_dump(unpack.stdout, env, names["scratch_db"], helpers, source_url, env.url)
    finally:
        if unpack.stdout is not None:
            unpack.stdout.close()
    if unpack.wait() != 0:
        raise Failed("the database stream could not be decompressed")
    say(f"staged: database ({source_url})")
    return {"db": True}


def import_dump(member, env: Env, database: str, helpers: dict,  # type: ignore[no-untyped-def]
                source_url: object, target_url: str) -> None:
    """``db.sql`` into ``database``: the SQL check, then the URL replacer (both as the
    environment's Linux user), then ``mariadb`` as the environment's MariaDB user."""
    stages: list[tuple[str, list[str]]] = []
    unprivileged = ["runuser", "-u", env.user, "--", "python3"]
    if os.environ.get(UNSAFE_SKIP_SQL_CHECK) == "1":
        say(f"SQL check skipped ({UNSAFE_SKIP_SQL_CHECK} is set)")
    else:
        stages.append(("the SQL check", [*unprivileged, helpers["sqlguard"]]))
    if isinstance(source_url, str) and source_url and source_url != target_url:
        stages.append(("the URL replacer", [*unprivileged, helpers["replacer"], source_url,
                                            target_url]))
        say(f"rewriting {source_url} -> {target_url}")
    with EnvironmentDatabase(env, database) as client:
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        for name, argv in [*stages, ("mariadb", client)]:
            last = name == "mariadb"
            procs.append((name, subprocess.Popen(
                argv, stdin=procs[-1][1].stdout if procs else subprocess.PIPE,
                stdout=None if last else subprocess.PIPE, stderr=subprocess.PIPE)))
            if len(procs) > 1:
                procs[-2][1].stdout.close()  # type: ignore[union-attr]
        sink = procs[0][1].stdin
        assert sink is not None
        try:
            while chunk := member.read(1 << 20):
                sink.write(chunk)
            sink.close()
        except BrokenPipeError:
            pass  # a stage stopped early: its exit status says why
        errors = {name: proc.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
                  for name, proc in procs}
        codes = {name: proc.wait() for name, proc in procs}
    for line in errors.get("the SQL check", "").splitlines():
        if line.startswith("sqlguard: ") and not line.startswith("sqlguard: refused: "):
            say(line[len("sqlguard: "):])
    if codes.get("the SQL check", 0) != 0:
        refused = [line for line in errors["the SQL check"].splitlines()
                   if line.startswith("sqlguard: refused: ")]
        if refused:
            raise Refused("db.sql: " + refused[-1][len("sqlguard: refused: "):])
        raise Failed("the SQL check failed: " + errors["the SQL check"][-1000:])
    for name, code in codes.items():
        if code != 0:
            raise Failed(f"importing the dump failed ({name} exited {code}): "
                         + errors[name][-1000:])


def _tables(database: str) -> list[str]:
    return mysql("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                 f"{sql_string(database)}").split()


def cmd_restore_swap(data: dict) -> dict:
    """Make the staged restore live: all tables swapped in one ``RENAME TABLE`` (the
    replaced ones kept in a side database), uploads swapped, ``current`` switched. The
    previous state stays until ``restore-finish`` or is put back by ``restore-undo``."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    if data.get("db"):
        live, new = _tables(env.db_name), _tables(names["scratch_db"])
        mysql(f"CREATE DATABASE IF NOT EXISTS `{names['old_db']}`;")
        renames = [f"`{env.db_name}`.`{t}` TO `{names['old_db']}`.`{t}`" for t in live]
        renames += [f"`{names['scratch_db']}`.`{t}` TO `{env.db_name}`.`{t}`" for t in new]
        if renames:
            mysql("RENAME TABLE " + ", ".join(renames) + ";")
        say(f"database: {len(new)} tables swapped in, {len(live)} kept aside")
    if data.get("files"):
        os.replace(env.shared / "uploads", names["uploads_old"])
        os.replace(names["uploads_new"], env.shared / "uploads")
        say("uploads swapped in")
    return {}


def cmd_restore_undo(data: dict) -> dict:
    """Put back what ``restore-swap`` replaced (the failed restore is dropped)."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    if data.get("db") and names["old_db"] in mysql("SHOW DATABASES").split():
        restored = _tables(env.db_name)
        mysql(f"DROP DATABASE IF EXISTS `{names['scratch_db']}`; CREATE DATABASE "
              f"`{names['scratch_db']}`;")
        renames = [f"`{env.db_name}`.`{t}` TO `{names['scratch_db']}`.`{t}`" for t in restored]
        renames += [f"`{names['old_db']}`.`{t}` TO `{env.db_name}`.`{t}`"
                    for t in _tables(names["old_db"])]
        if renames:
            mysql("RENAME TABLE " + ", ".join(renames) + ";")
        say("database: previous tables swapped back")
    if data.get("files") and names["uploads_old"].exists():
        shutil.rmtree(names["uploads_new"], ignore_errors=True)
        os.replace(env.shared / "uploads", names["uploads_new"])
        os.replace(names["uploads_old"], env.shared / "uploads")
        say("uploads swapped back")
    return cmd_restore_finish(data)


def cmd_restore_finish(data: dict) -> dict:
    """Drop what a restore kept aside (or left staged)."""
    env = Env(data)
    names = restore_names(env, data.get("restore_id"))
    mysql(f"DROP DATABASE IF EXISTS `{names['scratch_db']}`; "
          f"DROP DATABASE IF EXISTS `{names['old_db']}`;")
    for path in (names["uploads_new"], names["uploads_old"]):
        shutil.rmtree(path, ignore_errors=True)
    return {}


def sandbox() -> list[str]:
    """``--sandbox`` where the client has it: client commands that touch the file system
    (``\\!``, ``source``, …) in a dump are refused instead of run."""
    help_text = run(["mariadb", "--help"], check=False).stdout
    return ["--sandbox"] if b"--sandbox" in help_text else []


# -- site import: stage, validate, then restore into a new environment ----------------------

IMPORT_ROOT = Path("/var/tmp/pressluft-import")
MAX_IMPORT_BYTES = 20 * 1024 ** 3
MAX_IMPORT_MEMBERS = 2_000_000
MAX_UNPACKED_BYTES = 100 * 1024 ** 3
SOURCE_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?")
OPTIONS_TABLE = re.compile(rb"CREATE TABLE `([A-Za-z0-9_]*)options`")
SITEURL = re.compile(rb"'(?:siteurl|home)','(https?://[^'\\]+)'")


def import_dir(data: dict) -> Path:
    import_id = data.get("import_id")
    if not isinstance(import_id, str) or not re.fullmatch(r"[0-9a-f]{8}", import_id):
        raise Refused(f"import_id {import_id!r} is not valid")
    return IMPORT_ROOT / import_id


def cmd_import_stage(data: dict) -> dict:
    """Take an archive on stdin into a root-only staging directory and validate it before
    anything else changes: .tar.gz/.tar.zst, members inside the tree (no absolute names,
    ``..`` or links out), ``db.sql`` present, only ``meta.json``/``db.sql``/``files/``,
    size limits, and a dump that is SQL (no client commands that would run a shell).
    Finds the source URL (meta.json, else the dump's siteurl) and the table prefix."""
    work = import_dir(data)
    guard = install_lib(data.get("sqlguard"), "sqlguard.py")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, mode=0o700)
    archive = work / "archive"
    size = 0
    limit = int(data.get("max_bytes") or MAX_IMPORT_BYTES)
    try:
        with open(archive, "wb") as out:
            while chunk := sys.stdin.buffer.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise Refused(f"the archive is larger than {limit // 2**20} MiB")
                out.write(chunk)
        info = validate_import(archive, guard, data.get("max_unpacked_bytes"))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    info["bytes"] = size
    (work / "info.json").write_text(json.dumps(info))
    say(f"archive valid: {info['members']} members, source {info['source_url']}, "
        f"table prefix {info['prefix']}")
    return info


def validate_import(archive: Path, guard: str, limit: object = None) -> dict:
    with open(archive, "rb") as handle:
        argv = decompressor(handle.read(4))
    meta: dict = {}
    prefix = url = None
    members = 0
    budget = SpaceBudget(int(limit) if limit else MAX_UNPACKED_BYTES)
    tree = TreeGuard()
    seen_db = False
    with open(archive, "rb") as handle:
        unpack = subprocess.Popen(argv, stdin=handle, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        assert unpack.stdout is not None
        try:
            with tarfile.open(fileobj=unpack.stdout, mode="r|") as tf:
                for member in tf:
                    members += 1
                    if members > MAX_IMPORT_MEMBERS:
                        raise Refused(f"the archive has more than {MAX_IMPORT_MEMBERS} members")
                    name = member.name[2:] if member.name.startswith("./") else member.name
                    if name in ("", "."):
                        continue
                    budget.take(member)
                    member.name = name
                    tree.check(member)
                    if name == "meta.json":
                        meta = json.loads(tf.extractfile(member).read() or b"{}")  # type: ignore[union-attr]
                    elif name == "db.sql":
                        seen_db = True
                        prefix, url = scan_dump(tf.extractfile(member), guard)  # type: ignore[arg-type]
                    elif not (name in ("files", "") or name.startswith("files/")):
                        raise Refused(f"unexpected archive member {name!r}: an import holds "
                                      "meta.json, db.sql and files/ only")
        except tarfile.TarError as exc:
            raise Refused(f"the archive is not a valid tar: {exc}") from None
        finally:
            unpack.stdout.close()
            unpack.wait()
    if not seen_db:
        raise Refused("the archive has no db.sql")
    if prefix is None:
        raise Refused("db.sql creates no WordPress options table: not a WordPress dump")
    source_url = meta.get("source_url") or url
    if not isinstance(source_url, str) or not SOURCE_URL_RE.fullmatch(source_url):
        raise Refused("no source URL: add meta.json with source_url, or a dump whose "
                      "options hold siteurl")
    return {"source_url": source_url.rstrip("/"), "prefix": prefix, "members": members,
            "format": meta.get("format")}


def scan_dump(member, guard: str) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    """The dump's table prefix and site URL, and the SQL check's verdict (run as
    ``nobody``: it only reads), before anything is created for the import."""
    prefix = url = None
    tail = b""
    check = subprocess.Popen(["runuser", "-u", "nobody", "--", "python3", guard, "--check"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    assert check.stdin is not None and check.stderr is not None
    try:
        while chunk := member.read(1 << 20):
            check.stdin.write(chunk)
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                if prefix is None and (found := OPTIONS_TABLE.search(line)):
                    prefix = found.group(1).decode()
                if url is None and (found := SITEURL.search(line)):
                    url = found.group(1).decode()
        check.stdin.close()
    except BrokenPipeError:
        pass  # the check stopped at a refused statement
    said = check.stderr.read().decode(errors="replace").splitlines()
    if check.wait() != 0:
        refused = [line for line in said if line.startswith("sqlguard: refused: ")]
        raise Refused("db.sql: " + (refused[-1][len("sqlguard: refused: "):] if refused
                                    else "the SQL check failed: " + " ".join(said)[-500:]))
    for line in said:
        if line.startswith("sqlguard: "):
            say(line[len("sqlguard: "):])
    if prefix is not None and not PREFIX_RE.fullmatch(prefix):
        raise Refused(f"table prefix {prefix!r} is not valid")
    return prefix, url


def cmd_import_apply(data: dict) -> dict:
    """Stage the validated archive beside the (new, empty) environment, like a restore."""
    work = import_dir(data)
    info = json.loads((work / "info.json").read_text())
    with open(work / "archive", "rb", buffering=0) as handle:  # the child reads the fd
        return stage_archive({**data, "restore_id": data.get("import_id"),
                              "meta": {"source_url": info["source_url"]}}, handle)


def cmd_import_cleanup(data: dict) -> dict:
    shutil.rmtree(import_dir(data), ignore_errors=True)
    return {}


# -- promotion (source -> production): code and non-protected tables ----------------------

def cmd_release_from_env(data: dict) -> dict:
    """A new release of this environment made of ``source``'s current code (uploads and
    config stay this environment's own)."""
    env, source = Env(data), Env(data.get("source") or {})
    release = env.release_dir(data.get("release"))
    if release.is_dir():
        say(f"release {release.name} is already built")
        return {"path": str(release)}
    building = fresh_building_dir(env, release)
    copy_current(source, building)
    finish_release(env, building, release)
    say(f"built release {release.name} from {os.readlink(source.current)} of the source")
    return {"path": str(release)}


def cmd_promote_tables(data: dict) -> dict:
    """Copy the named tables of ``source`` into a scratch database beside this one, inside
    MariaDB with URLs rewritten (``copy_database``); production's own ``blog_public`` kept
    (a quarantined source has it off)."""
    env, source = Env(data), Env(data.get("source") or {})
    names = restore_names(env, data.get("promote_id"))
    replacer = install_lib(data.get("replacer"), "search_replace.py")
    wanted = data.get("tables") or []
    existing = set(_tables(source.db_name))
    if not all(isinstance(t, str) and re.fullmatch(r"[A-Za-z0-9_]{1,64}", t) and t in existing
               for t in wanted):
        raise Refused("tables must name tables of the source database")
    pairs = replacement_pairs(data)
    scratch_database(names["scratch_db"])
    if wanted:
        copy_database(source.db_name, env, names["scratch_db"], wanted, replacer, pairs)
    prefix = table_prefix(env)
    if f"{prefix}options" in wanted:
        public = mysql(f"SELECT option_value FROM `{prefix}options` WHERE option_name = "
                       "'blog_public'", env.db_name).strip() or "1"
        mysql(f"UPDATE `{prefix}options` SET option_value = {sql_string(public)} WHERE "
              "option_name = 'blog_public'", names["scratch_db"])
    say(f"{len(wanted)} tables copied beside production, URLs rewritten")
    return {"copied": wanted}


def cmd_promote_swap(data: dict) -> dict:
    """Swap the copied tables in with one ``RENAME TABLE``; the tables they replace wait in
    a side database until ``restore-finish`` (or go back with ``promote-undo``)."""
    env = Env(data)
    names = restore_names(env, data.get("promote_id"))
    live, new = set(_tables(env.db_name)), _tables(names["scratch_db"])
    mysql(f"CREATE DATABASE IF NOT EXISTS `{names['old_db']}`;")
    renames = [f"`{env.db_name}`.`{t}` TO `{names['old_db']}`.`{t}`" for t in new if t in live]
    renames += [f"`{names['scratch_db']}`.`{t}` TO `{env.db_name}`.`{t}`" for t in new]
    if renames:
        mysql("RENAME TABLE " + ", ".join(renames) + ";")
    added = [t for t in new if t not in live]
    say(f"database: {len(new)} tables swapped in ({len(added)} new)")
    return {"added": added}


def cmd_promote_undo(data: dict) -> dict:
    """Put back every table ``promote-swap`` replaced, and take out the ones it added."""
    env = Env(data)
    names = restore_names(env, data.get("promote_id"))
    dbs = mysql("SHOW DATABASES").split()
    if names["old_db"] in dbs:
        kept = _tables(names["old_db"])
        added = [t for t in data.get("added") or [] if t in _tables(env.db_name)]
        mysql(f"DROP DATABASE IF EXISTS `{names['scratch_db']}`; CREATE DATABASE "
              f"`{names['scratch_db']}`;")
        renames = [f"`{env.db_name}`.`{t}` TO `{names['scratch_db']}`.`{t}`"
                   for t in kept + added]
        renames += [f"`{names['old_db']}`.`{t}` TO `{env.db_name}`.`{t}`" for t in kept]
        if renames:
            mysql("RENAME TABLE " + ", ".join(renames) + ";")
        say(f"database: {len(kept)} tables swapped back, {len(added)} removed")
    return cmd_restore_finish({**data, "restore_id": data.get("promote_id")})


RESULT_DIR = Path("/var/tmp/pressluft-results")
RESULT_INLINE_MAX = 4096  # the control plane keeps only the last 10 KB of output


def print_result(result: dict) -> None:
    """``result: {json}``; a large answer (an upload manifest) goes to a root-only file
    that ``take-result`` hands over once, and the line says where."""
    text = json.dumps(result)
    if len(text) <= RESULT_INLINE_MAX:
        print("result: " + text, flush=True)
        return
    RESULT_DIR.mkdir(mode=0o700, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=RESULT_DIR, suffix=".json")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    print(f"result-file: {path}", flush=True)


def cmd_take_result(data: dict) -> None:
    path = Path(str(data.get("path")))
    if path.parent != RESULT_DIR or not re.fullmatch(r"tmp\w+\.json", path.name):
        raise Refused(f"{path} is not a result file")
    sys.stdout.buffer.write(path.read_bytes())
    sys.stdout.flush()
    path.unlink()


COMMANDS = {
    "prepare": cmd_prepare, "core-release": cmd_core_release, "install": cmd_install,
    "activate": cmd_activate, "health": cmd_health, "inspect": cmd_inspect,
    "checksums": cmd_checksums, "clone": cmd_clone, "clone-finish": cmd_clone_finish,
    "release-from-git": cmd_release_from_git,
    "release-from-archive": cmd_release_from_archive,
    "update-release": cmd_update_release, "release-from-env": cmd_release_from_env,
    "promote-tables": cmd_promote_tables, "promote-swap": cmd_promote_swap,
    "promote-undo": cmd_promote_undo, "import-apply": cmd_import_apply,
    "import-cleanup": cmd_import_cleanup,
    "remove": cmd_remove, "backup-estimate": cmd_backup_estimate,
    "restore-swap": cmd_restore_swap, "restore-undo": cmd_restore_undo,
    "restore-finish": cmd_restore_finish,
}
# Their stdin/stdout carry the data: the input comes as the argument after the command.
STREAM_COMMANDS = {"backup-stream": cmd_backup_stream, "restore-stream": cmd_restore_stream,
                   "dump-stream": cmd_dump_stream, "restore-db-stream": cmd_restore_db_stream,
                   "import-stage": cmd_import_stage, "take-result": cmd_take_result,
                   "unpack": cmd_unpack, "extract": cmd_extract}
AS_ENVIRONMENT_USER = {"unpack", "extract"}  # run by root through runuser, never as root
RAW_OUTPUT = {"backup-stream", "take-result", "dump-stream"}


def main(argv: list[str]) -> int:
    os.environ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    os.umask(0o022)
    streaming = len(argv) == 3 and argv[1] in STREAM_COMMANDS
    if not streaming and (len(argv) != 2 or argv[1] not in COMMANDS):
        print(f"usage: envctl.py {{{'|'.join(COMMANDS)}}} < input.json\n"
              f"       envctl.py {{{'|'.join(STREAM_COMMANDS)}}} INPUT_JSON", file=sys.stderr)
        return 2
    if (os.geteuid() == 0) == (argv[1] in AS_ENVIRONMENT_USER):
        print("envctl: must run as root" if os.geteuid() else
              f"envctl: {argv[1]} must run as the environment's user", file=sys.stderr)
        return 2
    try:
        data = json.loads(argv[2] if streaming else (sys.stdin.read() or "{}"))
        if not isinstance(data, dict):
            raise Refused("input must be a JSON object")
        if argv[1] in RAW_OUTPUT:  # stdout is the data: no result line after it
            STREAM_COMMANDS[argv[1]](data)
            return 0
        command = STREAM_COMMANDS[argv[1]] if streaming else COMMANDS[argv[1]]
        result = command(data)
    except Refused as exc:
        print(f"envctl: {exc}", file=sys.stderr)
        return 2
    except (Failed, OSError, subprocess.SubprocessError, tarfile.TarError,
            zipfile.BadZipFile, ValueError, KeyError) as exc:
        print(f"envctl: {exc}", file=sys.stderr)
        return 1
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
