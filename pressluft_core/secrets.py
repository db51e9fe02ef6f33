"""Secrets at rest: AES-256-GCM, one file per secret, key in a 0600 key file.

The directory is 0700 and every file 0600. The secret's name is bound into each ciphertext
as associated data, so a file renamed or copied over another secret fails to decrypt
instead of handing out the wrong value. Values never leave this module except to the
caller that asked by name; nothing here logs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pressluft_core.errors import NotFoundError, SecretError, ValidationError

SECRET_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
KEY_FILE = ".key"
_FORMAT = b"PLS1"
_NONCE_BYTES = 12


class SecretStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    # -- public API ---------------------------------------------------------------------

    def put(self, name: str, value: str | bytes) -> None:
        data = value.encode() if isinstance(value, str) else value
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _FORMAT + nonce + self._cipher().encrypt(nonce, data, self._aad(name))
        _write_private(self._path(name), sealed)

    def get_bytes(self, name: str) -> bytes:
        path = self._path(name)
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"secret {name!r} is not in the secrets store") from None
        if not sealed.startswith(_FORMAT):
            raise SecretError(f"secret {name!r} is not in a format this version can read")
        nonce = sealed[len(_FORMAT): len(_FORMAT) + _NONCE_BYTES]
        try:
            return self._cipher().decrypt(nonce, sealed[len(_FORMAT) + _NONCE_BYTES:],
                                          self._aad(name))
        except InvalidTag:
            raise SecretError(
                f"secret {name!r} cannot be decrypted: it was altered or the key file "
                f"{self.directory / KEY_FILE} changed"
            ) from None

    def get(self, name: str) -> str:
        return self.get_bytes(name).decode()

    def get_or_none(self, name: str) -> str | None:
        try:
            return self.get(name)
        except NotFoundError:
            return None

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def delete(self, name: str) -> bool:
        try:
            self._path(name).unlink()
            return True
        except FileNotFoundError:
            return False

    def names(self) -> list[str]:
        if not self.directory.exists():
            return []
        return sorted(p.stem for p in self.directory.glob("*.secret"))

    # -- internals ----------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if not isinstance(name, str) or not SECRET_NAME_RE.fullmatch(name):
            raise ValidationError("secret name", f"{name!r} is not a valid secret name")
        return self.directory / f"{name}.secret"

    @staticmethod
    def _aad(name: str) -> bytes:
        return f"pressluft-secret:{name}".encode()

    def _cipher(self) -> AESGCM:
        return AESGCM(self._key())

    def _key(self) -> bytes:
        self._ensure_directory()
        key_path = self.directory / KEY_FILE
        try:
            key = key_path.read_bytes()
        except FileNotFoundError:
            key = AESGCM.generate_key(bit_length=256)
            try:
                _write_private(key_path, key, exclusive=True)
            except FileExistsError:  # another process created it first: use theirs
                key = key_path.read_bytes()
        if len(key) != 32:
            raise SecretError(f"key file {key_path} is damaged (expected 32 bytes)")
        return key

    def _ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)


def _write_private(path: Path, data: bytes, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (never world-readable,
    not even briefly) and atomically: readers see the whole file or none. ``exclusive``
    raises FileExistsError instead of replacing a file that is already there."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Unique per call, not per process: two threads writing one secret must not share it.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if exclusive:
            os.link(tmp, path)  # fails if it exists; never exposes a half-written file
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
