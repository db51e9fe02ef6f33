"""The control plane's SSH key: generated once, kept encrypted in the secrets store."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import asyncssh

from pressluft_core.remote import ensure_control_key, public_key_line
from pressluft_core.remote.keys import CONTROL_KEY_SECRET
from pressluft_core.secrets import SecretStore


def test_key_is_generated_once_as_ed25519_and_stored_in_openssh_format(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    key = ensure_control_key(store)
    again = ensure_control_key(SecretStore(tmp_path / "secrets"))
    assert key.algorithm == b"ssh-ed25519"
    assert again.public_data == key.public_data
    assert store.names() == [CONTROL_KEY_SECRET]
    stored = store.get(CONTROL_KEY_SECRET)
    assert stored.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert asyncssh.import_private_key(stored).public_data == key.public_data
    on_disk = (tmp_path / "secrets" / f"{CONTROL_KEY_SECRET}.secret").read_bytes()
    assert b"OPENSSH PRIVATE KEY" not in on_disk  # encrypted at rest


def test_public_key_line_is_what_authorized_keys_takes(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    line = public_key_line(store)
    assert re.fullmatch(r"ssh-ed25519 AAAA[0-9A-Za-z+/]+=* pressluft@\S+", line)
    assert asyncssh.import_public_key(line).public_data == \
        ensure_control_key(store).public_data


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    keys: list[asyncssh.SSHKey] = []
    start = threading.Barrier(4)

    def first_use() -> None:
        start.wait()
        keys.append(ensure_control_key(SecretStore(tmp_path / "secrets")))

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({key.public_data for key in keys}) == 1
    stored = ensure_control_key(SecretStore(tmp_path / "secrets"))
    assert stored.public_data == keys[0].public_data
