"""A real S3-compatible HTTP endpoint for tests: moto's server mode in its own process on
a loopback port (not an in-process mock), so failures look like a real endpoint's."""

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

import boto3
import pytest

ACCESS_KEY, SECRET_KEY = "testing-access-key", "testing-secret-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    endpoint_url: str
    process: subprocess.Popen[bytes]

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        name = f"pl-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def configure(self, core, token: str) -> str:  # type: ignore[no-untyped-def]
        """Point an installation's backup storage at a new bucket here; its name."""
        name = self.new_bucket()
        for key, value in (("s3_endpoint_url", self.endpoint_url), ("s3_bucket", name),
                           ("s3_access_key_id", ACCESS_KEY),
                           ("s3_secret_access_key", SECRET_KEY)):
            core.settings.set(token, key, value)
        return name

    def rss_mib(self) -> float:
        """The moto process's resident memory (it keeps every object in memory)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    """moto's server mode in a process of its own on a loopback port, stopped when the
    block ends (the tests' fixture and the benchmarks both start it here)."""
    port = _free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    try:
        yield S3Server(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server
