"""Backup storage: an S3-compatible bucket, configured by settings, credentials in the
secrets store. One place builds the client so every user (backups, restore, cleanup,
``pressluft storage test``) talks to the same endpoint the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pressluft_core.errors import ValidationError
from pressluft_core.services.base import Runtime
from pressluft_core.services.settings import effective_value


@dataclass(frozen=True)
class StorageConfig:
    endpoint_url: str | None
    bucket: str
    region: str
    prefix: str
    access_key_id: str | None
    secret_access_key: str | None

    @classmethod
    def from_settings(cls, rt: Runtime) -> StorageConfig:
        def setting(key: str) -> str | None:
            return effective_value(rt, key)

        bucket = setting("s3_bucket")
        if not bucket:
            raise ValidationError("s3_bucket", "backup storage is not configured: set "
                                               "s3_bucket (and s3_endpoint_url, credentials)")
        return cls(
            endpoint_url=setting("s3_endpoint_url"),
            bucket=bucket,
            region=setting("s3_region") or "us-east-1",
            prefix=(setting("s3_prefix") or "").strip("/"),
            access_key_id=setting("s3_access_key_id"),
            secret_access_key=setting("s3_secret_access_key"),
        )

    def client(self) -> Any:
        import boto3  # ~0.2 s: only jobs and storage tests pay for it, not the console
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=10, read_timeout=60,
                          # Our own SHA-256 covers the whole archive; a per-part CRC
                          # would cost CPU and a copy of every part.
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"),
        )
