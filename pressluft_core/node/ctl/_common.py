"""What envctl and domainctl share on the node: input patterns, the two failures and their
exit codes, ``say``/``run``, service control (systemd where it runs, the daemons directly
where it does not) and atomic file writes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

NAME_RE = re.compile(r"[a-z][a-z0-9_]{2,31}")
ID_RE = re.compile(r"[0-9a-f-]{36}")
HOST_RE = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
ACME_SNIPPET = "/etc/nginx/snippets/pressluft-acme.conf"
LIB_DIR = Path("/usr/local/lib/pressluft")


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


# -- services (systemd where it runs, the daemons directly where it does not) -------------

def php_fpm() -> tuple[str, str]:
    for candidate in sorted(Path("/usr/sbin").glob("php-fpm[0-9]*")):
        return str(candidate), candidate.name[len("php-fpm"):]
    raise Failed("php-fpm is not installed: run node provision first")


def systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def tested_php_fpm() -> tuple[str, str]:
    """:func:`php_fpm`, its configuration tested first: a reload must not take down a
    working pool for a broken file."""
    binary, version = php_fpm()
    test = run([binary, "-t"], check=False)
    if test.returncode != 0:
        raise Failed("php-fpm configuration test failed: "
                     + test.stderr.decode(errors="replace")[-1000:])
    return binary, version


def reload_php_fpm() -> None:
    binary, version = tested_php_fpm()
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


def write_if_changed(path: Path, content: str | bytes, mode: int = 0o644,
                     owner: str = "root", group: str = "root") -> bool:
    """Atomic write; False when the file already held exactly this (mode/owner fixed too).
    Text is written as UTF-8; bytes (the node zipapp) as they are."""
    raw = content.encode() if isinstance(content, str) else content
    same = path.is_file() and path.read_bytes() == raw
    if not same:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
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


def listens(port: int, extra: str = "") -> str:
    lines = f"    listen {port}{extra};\n"
    if Path("/proc/net/if_inet6").exists():
        lines += f"    listen [::]:{port}{extra};\n"
    return lines


def install_lib(source: object, name: str) -> str:
    """Copy an uploaded helper where every environment user may read it (the upload
    lives in the SSH user's private cache)."""
    if not isinstance(source, str) or not os.path.isfile(source):
        raise Refused(f"helper {name} {source!r} is not a file")
    ensure_dir(LIB_DIR, 0o755, "root", "root")
    target = LIB_DIR / name
    write_if_changed(target, Path(source).read_bytes(), 0o644)
    return str(target)


def node_archive() -> str:
    """The node zipapp this code runs from (``<sha16>-pressluft-node.pyz`` in the SSH user's
    upload cache): the replacer, sqlguard and envctl's unprivileged commands are in it."""
    for parent in Path(os.path.abspath(__file__)).parents:
        if parent.is_file():
            return str(parent)
    raise Failed("the node package runs from its source tree, not from its zipapp")


def node_command(tool: str) -> list[str]:
    """``python3 <zipapp> <tool>`` with the zipapp copied where every environment user may
    read it. The copy keeps the upload's checksum name, so a process still running an older
    copy never has its archive replaced under it."""
    archive = node_archive()
    return ["python3", install_lib(archive, os.path.basename(archive)), tool]


# -- inputs ---------------------------------------------------------------------------------

def need(data: dict, key: str, pattern: re.Pattern[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Refused(f"{key} {value!r} is not valid")
    return value


class Placement:
    """Where an environment lives on this node and the PHP-FPM pool that serves it, from
    the names every environment command gets (``sites_root``, ``site_id``,
    ``environment_id``, ``user``), each checked before any use: envctl's ``Env`` and
    domainctl's ``Target`` start from it."""

    def __init__(self, data: dict) -> None:
        root = data.get("sites_root")
        if not isinstance(root, str) or not re.fullmatch(r"/[A-Za-z0-9/._-]*", root) \
                or ".." in root.split("/") or root.rstrip("/") == "":
            raise Refused(f"sites_root {root!r} is not valid")
        self.site_id = need(data, "site_id", ID_RE)
        self.env_id = need(data, "environment_id", ID_RE)
        self.user = need(data, "user", NAME_RE)
        self.dir = Path(root.rstrip("/")) / self.site_id / self.env_id
        self.current = self.dir / "current"
        self.pool_name = f"pressluft-{self.user}"
        self.socket = f"/run/php/{self.pool_name}.sock"


def wordpress_locations(root: str, socket_path: str, log_name: str, extra: str = "") -> str:
    """The part of a server block that serves WordPress from ``root`` (envctl's preview
    block, domainctl's domain blocks): ``extra`` lines go after the logs."""
    return f"""    root {root};
    index index.php;
    client_max_body_size 64m;
    access_log /var/log/nginx/{log_name}.access.log;
    error_log /var/log/nginx/{log_name}.error.log;
{extra}
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
        fastcgi_pass unix:{socket_path};
    }}
"""
