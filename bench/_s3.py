"""The S3 endpoint the backup and promote benchmarks write to: the tests' moto server
(``tests/s3server.py``, a real HTTP endpoint that keeps objects in memory), so every
object is deleted again right after its run is measured."""

from __future__ import annotations

from bench._stack import Stack
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server
from tests.s3server import moto_server as s3_server

__all__ = ["ACCESS_KEY", "SECRET_KEY", "S3Server", "empty_bucket", "s3_server", "use_storage"]


def use_storage(stack: Stack, server: S3Server) -> str:
    """Point the installation's backup storage at a new bucket of ``server``."""
    return server.configure(stack.core, stack.token)


def empty_bucket(server: S3Server, bucket: str) -> None:
    """moto holds objects in memory: every run's objects go right after it is measured."""
    s3 = server.client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                  UploadId=upload["UploadId"])
