"""An S3 multipart upload fed chunk by chunk from an async stream, hashed on the way.

Memory holds at most ``in_flight`` parts being sent plus the one being filled; parts go
out on threads (boto3 is synchronous) while the stream keeps flowing. Anything that ends
the upload early must call :meth:`abort`, so no incomplete upload stays in the bucket.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import Any

MIN_PART = 8 * 1024 * 1024
MAX_PART = 5 * 1024 ** 3
MAX_PARTS = 10_000
PLANNED_PARTS = 9_000  # headroom under S3's limit for an estimate that was low


def part_size_for(estimated_bytes: int) -> int:
    """At least 8 MiB; large enough that the estimate fits in 9,000 parts (whole MiB).
    500 GB → 56 MiB parts; boto3's fixed 8 MiB would stop at about 78 GiB."""
    needed = math.ceil(max(estimated_bytes, 0) / PLANNED_PARTS)
    size = max(MIN_PART, math.ceil(needed / 2**20) * 2**20)
    return min(size, MAX_PART)


class MultipartUpload:
    def __init__(self, client: Any, bucket: str, key: str, part_size: int,
                 in_flight: int = 2) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.part_size = part_size
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.upload_id: str | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._parts: dict[int, str] = {}
        self._next_part = 1
        self._slots = asyncio.Semaphore(max(1, in_flight))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> list[str]:
        """Abort what an earlier attempt for the same key left (it could not abort while
        the endpoint was down), then begin; returns the ids of those aborted."""
        stale = await asyncio.to_thread(self.client.list_multipart_uploads,
                                        Bucket=self.bucket, Prefix=self.key)
        aborted = []
        for upload in stale.get("Uploads", []):
            if upload["Key"] == self.key:
                await asyncio.to_thread(self.client.abort_multipart_upload, Bucket=self.bucket,
                                        Key=self.key, UploadId=upload["UploadId"])
                aborted.append(upload["UploadId"])
        answer = await asyncio.to_thread(self.client.create_multipart_upload,
                                         Bucket=self.bucket, Key=self.key)
        self.upload_id = answer["UploadId"]
        return aborted

    async def write(self, chunk: bytes) -> None:
        """Parts are whole chunks joined once they reach the part size (S3 allows parts of
        any size from 5 MiB up, so no part is cut and no buffer is copied twice)."""
        self.sha256.update(chunk)
        self.size += len(chunk)
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= self.part_size:
            await self._flush()

    async def _flush(self) -> None:
        part = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        await self._send(part)

    async def finish(self) -> tuple[str, int]:
        """Send the rest, complete the upload; (sha256 hex, size)."""
        if self._chunks or self._next_part == 1:
            await self._flush()
        await self._settle()
        parts = [{"PartNumber": n, "ETag": self._parts[n]} for n in sorted(self._parts)]
        await asyncio.to_thread(self.client.complete_multipart_upload, Bucket=self.bucket,
                                Key=self.key, UploadId=self.upload_id,
                                MultipartUpload={"Parts": parts})
        return self.sha256.hexdigest(), self.size

    async def abort(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.upload_id is not None:
            await asyncio.to_thread(self.client.abort_multipart_upload, Bucket=self.bucket,
                                    Key=self.key, UploadId=self.upload_id)

    async def _send(self, body: bytes) -> None:
        if self._next_part > MAX_PARTS:
            raise ValueError(f"the archive outgrew {MAX_PARTS} parts of {self.part_size} "
                             "bytes (the size estimate was far too low)")
        for task in [t for t in self._tasks if t.done()]:
            task.result()  # a failed part ends the upload now, not at the end
        await self._slots.acquire()
        number = self._next_part
        self._next_part += 1
        self._tasks.append(asyncio.create_task(self._upload_part(number, body)))

    async def _upload_part(self, number: int, body: bytes) -> None:
        try:
            answer = await asyncio.to_thread(
                self.client.upload_part, Bucket=self.bucket, Key=self.key,
                UploadId=self.upload_id, PartNumber=number, Body=body)
            self._parts[number] = answer["ETag"]
        finally:
            self._slots.release()

    async def _settle(self) -> None:
        await asyncio.gather(*self._tasks)
        self._tasks.clear()


async def read_object(client: Any, bucket: str, key: str, chunk_size: int = 1 << 20):  # type: ignore[no-untyped-def]
    """The object's bytes as an async stream of chunks (never whole in memory)."""
    body = (await asyncio.to_thread(client.get_object, Bucket=bucket, Key=key))["Body"]
    try:
        while chunk := await asyncio.to_thread(body.read, chunk_size):
            yield chunk
    finally:
        body.close()
