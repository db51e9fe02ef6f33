"""The S3 endpoint the backup and promote benchmarks write to: moto's server mode in a
process of its own on a loopback port, a real HTTP endpoint that keeps objects in memory
(so every object is deleted again right after its run is measured)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench._stack import Stack

ACCESS_KEY, SECRET_KEY = "bench-access-key", "bench-secret-key"


@dataclass
class S3Server:
    endpoint_url: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        name = f"plbench-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def rss_mib(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's server mode in a process of its own on a loopback port (as tests/s3server.py
    starts it), stopped when the block ends."""
    port = _free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield S3Server(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def use_storage(stack: Stack, server: S3Server) -> str:
    """Point the installation's backup storage at a new bucket of ``server``."""
    bucket = server.new_bucket()
    for key, value in (("s3_endpoint_url", server.endpoint_url), ("s3_bucket", bucket),
                       ("s3_access_key_id", ACCESS_KEY), ("s3_secret_access_key", SECRET_KEY)):
        stack.core.settings.set(stack.token, key, value)
    return bucket


def empty_bucket(server: S3Server, bucket: str) -> None:
    """moto holds objects in memory: every run's objects go right after it is measured."""
    s3 = server.client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                  UploadId=upload["UploadId"])
