"""`storage test` against a real S3-compatible HTTP server: success, a missing bucket and
an unreachable endpoint each get one sentence naming what is wrong."""

from __future__ import annotations

import socket

import pytest

from pressluft_core.services.backups import StorageError
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server, s3_server

__all__ = ["s3_server"]


def configure(core, token, endpoint: str, bucket: str) -> None:  # type: ignore[no-untyped-def]
    for key, value in (("s3_endpoint_url", endpoint), ("s3_bucket", bucket),
                       ("s3_access_key_id", ACCESS_KEY),
                       ("s3_secret_access_key", SECRET_KEY)):
        core.settings.set(token, key, value)


def test_storage_test_writes_reads_and_deletes_a_probe(core, token, s3_server: S3Server):  # type: ignore[no-untyped-def]
    bucket = s3_server.new_bucket()
    configure(core, token, s3_server.endpoint_url, bucket)
    said = core.backups.test_storage(token)
    assert "succeeded" in said and bucket in said
    assert not s3_server.client().list_objects_v2(Bucket=bucket).get("Contents")


def test_missing_bucket_and_dead_endpoint_are_named(core, token, s3_server: S3Server):  # type: ignore[no-untyped-def]
    configure(core, token, s3_server.endpoint_url, "no-such-bucket-here")
    with pytest.raises(StorageError, match="does not exist"):
        core.backups.test_storage(token)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    configure(core, token, dead, "some-bucket")
    with pytest.raises(StorageError, match="cannot reach"):
        core.backups.test_storage(token)


def test_unconfigured_storage_says_which_setting(core, token):  # type: ignore[no-untyped-def]
    from pressluft_core.errors import ValidationError

    with pytest.raises(ValidationError, match="s3_bucket"):
        core.backups.test_storage(token)
