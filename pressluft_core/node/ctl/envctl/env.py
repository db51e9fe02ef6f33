"""One environment's names and paths, checked before any use, and the ``mariadb`` client
that works on its database as the environment's own users (never as root).
"""

from __future__ import annotations

import os
import pwd
import re
import tempfile
from pathlib import Path

from .._common import (
    HOST_RE,
    NAME_RE,
    Failed,
    Placement,
    Refused,
    mysql,
    need,
    run,
    sql_string,
)

RELEASE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}")
PREFIX_RE = re.compile(r"[A-Za-z0-9_]{1,20}")
AUTO_INCREMENT_OFFSET_DEFAULT = 10_000_000


# -- inputs -------------------------------------------------------------------------------

class Env(Placement):
    """One environment's names and paths, each checked before any use."""

    def __init__(self, data: dict) -> None:
        super().__init__(data)
        self.db_name = need(data, "db_name", NAME_RE)
        self.server_name = need(data, "server_name", HOST_RE)
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
        self.shared = self.dir / "shared"
        self.releases = self.dir / "releases"
        self.nginx_file = Path(f"/etc/nginx/sites-available/{self.pool_name}.conf")
        self.nginx_link = Path(f"/etc/nginx/sites-enabled/{self.pool_name}.conf")

    def release_dir(self, name: object) -> Path:
        if not isinstance(name, str) or not RELEASE_RE.fullmatch(name):
            raise Refused(f"release {name!r} is not valid")
        return self.releases / name


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


def sandbox() -> list[str]:
    """``--sandbox`` where the client has it: client commands that touch the file system
    (``\\!``, ``source``, …) in a dump are refused instead of run."""
    help_text = run(["mariadb", "--help"], check=False).stdout
    return ["--sandbox"] if b"--sandbox" in help_text else []


def _tables(database: str) -> list[str]:
    return mysql("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                 f"{sql_string(database)}").split()
