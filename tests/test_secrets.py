"""The secrets store (encrypted at rest, private files) and where secrets must never appear:
the database, the audit log, job payloads, any file outside the store."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from pressluft_core.app import Pressluft
from pressluft_core.errors import NotFoundError, SecretError, ValidationError
from pressluft_core.records import NodeRecord
from pressluft_core.secrets import KEY_FILE, SecretStore
from pressluft_core.services import jobs
from pressluft_core.services.settings import MASK

S3_SECRET = "S3-SECRET-9f8e7d6c5b4a"
S3_KEY_ID = "AKIA-KEYID-0123456789"
DNS_SECRET = "DNS-TOKEN-aa11bb22cc33"
DNS_JSON = json.dumps({"api_token": DNS_SECRET, "zone": "example.com"})
SECRETS = (S3_SECRET, S3_KEY_ID, DNS_SECRET)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "data" / "secrets")


# -- the store ----------------------------------------------------------------------------


def test_put_get_delete_round_trip(store: SecretStore) -> None:
    store.put("db.password", "hunter2-but-longer")
    store.put("ssh.key", b"\x00\x01binary\xff")
    assert store.get("db.password") == "hunter2-but-longer"
    assert store.get_bytes("ssh.key") == b"\x00\x01binary\xff"
    assert store.exists("db.password")
    assert store.names() == ["db.password", "ssh.key"]

    store.put("db.password", "replaced value")
    assert store.get("db.password") == "replaced value"

    assert store.delete("db.password") is True
    assert store.delete("db.password") is False
    assert not store.exists("db.password")
    with pytest.raises(NotFoundError, match=r"db\.password"):
        store.get("db.password")
    assert store.get_or_none("db.password") is None
    assert store.names() == ["ssh.key"]


def test_directory_and_files_are_private(store: SecretStore) -> None:
    old_umask = os.umask(0o022)  # a permissive umask must not loosen anything
    try:
        store.put("one", "1")
        store.put("two", "2")
        store.put("one", "1 again")  # rewrite keeps the mode
    finally:
        os.umask(old_umask)
    assert _mode(store.directory) == 0o700
    assert _mode(store.directory / KEY_FILE) == 0o600
    assert len((store.directory / KEY_FILE).read_bytes()) == 32
    files = sorted(p.name for p in store.directory.iterdir())
    assert files == [KEY_FILE, "one.secret", "two.secret"]  # no temp files left behind
    for name in files:
        assert _mode(store.directory / name) == 0o600, name


def test_existing_directory_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    SecretStore(directory).put("x", "y")
    assert _mode(directory) == 0o700


def test_ciphertext_does_not_contain_the_plaintext(store: SecretStore) -> None:
    value = "plain-text-password-" * 4
    store.put("db.password", value)
    sealed = (store.directory / "db.password.secret").read_bytes()
    assert value.encode() not in sealed
    assert b"plain-text-password" not in sealed
    assert len(sealed) >= len(value) + 16  # nonce and tag on top
    store.put("db.password", value)
    assert (store.directory / "db.password.secret").read_bytes() != sealed  # fresh nonce


def test_a_file_copied_over_another_name_does_not_decrypt(store: SecretStore) -> None:
    store.put("prod.db.password", "production password")
    store.put("staging.db.password", "staging password")
    shutil.copyfile(store.directory / "prod.db.password.secret",
                    store.directory / "staging.db.password.secret")
    with pytest.raises(SecretError, match=r"staging\.db\.password"):
        store.get("staging.db.password")
    assert store.get("prod.db.password") == "production password"


def test_a_tampered_file_does_not_decrypt(store: SecretStore) -> None:
    store.put("name", "value")
    path = store.directory / "name.secret"
    sealed = bytearray(path.read_bytes())
    sealed[-1] ^= 0x01
    path.write_bytes(bytes(sealed))
    with pytest.raises(SecretError):
        store.get("name")
    path.write_bytes(b"garbage")
    with pytest.raises(SecretError):
        store.get("name")


def test_another_key_file_cannot_read_the_secrets(store: SecretStore) -> None:
    store.put("name", "value")
    (store.directory / KEY_FILE).write_bytes(os.urandom(32))
    with pytest.raises(SecretError, match="cannot be decrypted"):
        store.get("name")
    (store.directory / KEY_FILE).write_bytes(b"short")
    with pytest.raises(SecretError, match="damaged"):
        store.get("name")


def test_concurrent_writes_of_one_secret(store: SecretStore) -> None:
    """Worker threads may store the same secret at once: each write is whole, none fails."""
    errors: list[BaseException] = []
    values = [f"value-{i}" for i in range(4)]

    def write(value: str) -> None:
        try:
            for _ in range(100):
                store.put("shared", value)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(v,)) for v in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert store.get("shared") in values
    assert sorted(p.name for p in store.directory.iterdir()) == [KEY_FILE, "shared.secret"]


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".key", "UPPER", "x" * 200,
                                  "name\n", "-dash"])
def test_secret_names_cannot_leave_the_directory(store: SecretStore, name: str) -> None:
    with pytest.raises(ValidationError):
        store.put(name, "value")
    assert not store.directory.exists() or store.names() == []


# -- secrets never leave the store ---------------------------------------------------------


def _all_tables(core: Pressluft) -> list[str]:
    if core.backend == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = ("SELECT table_name FROM information_schema.tables "
               "WHERE table_schema = current_schema()")
    return [row[0] for row in core.db.execute_sql(sql).fetchall()]


def _database_text(core: Pressluft) -> str:
    """Every row of every table, as text."""
    parts = []
    for table in _all_tables(core):
        for row in core.db.execute_sql(f'SELECT * FROM "{table}"').fetchall():
            parts.append(f"{table}: {row!r}")
    return "\n".join(parts)


def _files_outside_the_store(core: Pressluft) -> dict[Path, bytes]:
    secrets_dir = core.rt.paths.secrets_dir
    return {path: path.read_bytes() for path in core.rt.paths.data_dir.rglob("*")
            if path.is_file() and secrets_dir not in path.parents}


def test_secret_settings_live_only_in_the_store(
    core: Pressluft, token: str, local_node: NodeRecord
) -> None:
    core.settings.set(token, "s3_secret_access_key", S3_SECRET)
    core.settings.set(token, "s3_access_key_id", S3_KEY_ID)
    core.settings.set(token, "dns01_credentials_json", DNS_JSON)
    core.settings.set(token, "s3_bucket", "backups")
    # Refusals quote what they refuse: a refused secret must not be quoted anywhere.
    with pytest.raises(ValidationError, match="s3_secret_access_key"):
        core.settings.set(token, "s3_secret_access_key", S3_SECRET + " with a space")
    with pytest.raises(ValidationError, match="dns01_credentials_json"):
        core.settings.set(token, "dns01_credentials_json", '{"api_token": "' + DNS_SECRET)
    job = core.sites.create(token, "Shop", "shop")

    # The services can still use them...
    assert core.settings.value("s3_secret_access_key") == S3_SECRET
    assert json.loads(core.settings.value("dns01_credentials_json") or "")["api_token"] \
        == DNS_SECRET
    # ...but show only a mask.
    shown = core.settings.get(token, "s3_secret_access_key")
    assert (shown.value, shown.secret, shown.is_set) == (MASK, True, True)
    assert all(S3_SECRET not in str(v) for v in core.settings.list(token))

    text = _database_text(core)
    assert "setting.s3_secret_access_key" in text  # the reference is there, and we did look
    assert "s3_secret_access_key" in text and job.id in text
    for secret in SECRETS:
        assert secret not in text, f"{secret} found in the database"
    audit = [a.result + a.resource_id for a in core.audit.list(token)]
    assert any(r.startswith("refused:") for r in audit)
    for secret in SECRETS:
        assert not any(secret in entry for entry in audit)
    for listed in core.jobs.list(token):
        for secret in SECRETS:
            assert secret not in listed.payload_json
    for path, data in _files_outside_the_store(core).items():
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} found in {path}"

    # Unsetting removes the encrypted file as well.
    core.settings.set(token, "s3_secret_access_key", None)
    assert core.settings.value("s3_secret_access_key") is None
    assert not core.rt.secrets.exists("setting.s3_secret_access_key")


@pytest.mark.parametrize(("payload", "field"), [
    ({"db_password": "x"}, "payload.db_password"),
    ({"S3_SECRET_ACCESS_KEY": "x"}, "payload.S3_SECRET_ACCESS_KEY"),
    ({"ssh": {"private_key": "x"}}, "payload.ssh.private_key"),
    ({"api_token": "x"}, "payload.api_token"),
    ({"dns01_credentials_json": "{}"}, "payload.dns01_credentials_json"),
    ({"databases": [{"name": "wp", "password": "x"}]}, "payload.databases[0].password"),
    ({"steps": [[{"token": "x"}]]}, "payload.steps[0][0].token"),
])
def test_enqueue_refuses_payload_keys_that_look_like_secrets(
    core: Pressluft, local_node: NodeRecord, payload: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        jobs.enqueue(core.rt, "node_check", payload=payload, node_id=local_node.id)
    assert refused.value.field == field
    assert "secrets store" in str(refused.value)
    assert core.db.execute_sql("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_enqueue_accepts_references_to_secrets(core: Pressluft, local_node: NodeRecord) -> None:
    job = jobs.enqueue(core.rt, "node_check", node_id=local_node.id,
                       payload={"db_password_ref": "env.x.db_password",
                                "items": [{"name": "wp", "secret_ref": "s"}]})
    assert job.payload["db_password_ref"] == "env.x.db_password"
