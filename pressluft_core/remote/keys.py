"""The control plane's SSH identity: one Ed25519 key per installation, kept encrypted in the
secrets store, and the helpers to show keys to the operator.

The private key never leaves the secrets store except into asyncssh's memory; the
operator sees only the public line (``pressluft node key``) to put in the node user's
``authorized_keys``.
"""

from __future__ import annotations

import fcntl
import os
import socket

import asyncssh

from pressluft_core.errors import SecretError
from pressluft_core.secrets import SecretStore

CONTROL_KEY_SECRET = "ssh.control-key"
_LOCK_FILE = ".ssh-control-key.lock"


def ensure_control_key(secrets: SecretStore) -> asyncssh.SSHKey:
    """Return the installation's control key, generating and storing it on first use.

    Generation runs under an exclusive file lock in the secrets directory, so two processes
    starting at once (console and worker) agree on one key instead of each storing its own
    and leaving the operator with a public key that no longer matches.
    """
    key = _load(secrets)
    if key is not None:
        return key
    secrets.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(secrets.directory / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        key = _load(secrets)
        if key is None:
            key = asyncssh.generate_private_key(
                "ssh-ed25519", comment=f"pressluft@{socket.gethostname()}")
            secrets.put(CONTROL_KEY_SECRET, key.export_private_key("openssh"))
        return key
    finally:
        os.close(fd)


def public_key_line(secrets: SecretStore) -> str:
    """``ssh-ed25519 AAAA… pressluft@<host>``: the line the operator installs on a node."""
    return key_line(ensure_control_key(secrets), with_comment=True)


def key_line(key: asyncssh.SSHKey, *, with_comment: bool = False) -> str:
    """A key's OpenSSH public line; without comment it is the canonical form we record and
    compare (comments are not part of a key's identity)."""
    fields = key.export_public_key("openssh").decode().split()
    return " ".join(fields if with_comment else fields[:2])


def fingerprint(key: asyncssh.SSHKey | str) -> str:
    """``SHA256:…`` as ``ssh-keygen -l`` prints it, for a key or an OpenSSH public line."""
    if isinstance(key, str):
        key = asyncssh.import_public_key(key)
    return key.get_fingerprint("sha256")


def _load(secrets: SecretStore) -> asyncssh.SSHKey | None:
    if not secrets.exists(CONTROL_KEY_SECRET):
        return None
    try:
        return asyncssh.import_private_key(secrets.get_bytes(CONTROL_KEY_SECRET))
    except asyncssh.KeyImportError as exc:
        raise SecretError(
            f"secret {CONTROL_KEY_SECRET!r} is not a readable SSH private key: {exc}") from None
