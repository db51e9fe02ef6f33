"""The login session of this operator on this host (shared by the CLI and the console):
a token in the state dir, mode 0600 from its first byte."""

from __future__ import annotations

import os

from pressluft_core.errors import AuthError
from pressluft_core.paths import Paths


def save_token(paths: Paths, token: str) -> None:
    path = paths.cli_session_file
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".session.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    os.replace(tmp, path)


def load_token(paths: Paths) -> str:
    token = os.environ.get("PRESSLUFT_SESSION")
    if token:
        return token
    try:
        return paths.cli_session_file.read_text().strip()
    except FileNotFoundError:
        raise AuthError("not logged in: run `pressluft login`") from None


def clear_token(paths: Paths) -> None:
    paths.cli_session_file.unlink(missing_ok=True)
