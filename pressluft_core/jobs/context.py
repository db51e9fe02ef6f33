"""What a step gets: the job, its payload, its log, its node, and a way to run commands
there that streams output into the log and honours cancellation."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from pressluft_core.db import dialect_of
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.logs import JobLog, Redactor
from pressluft_core.models import Node
from pressluft_core.records import JobRecord, NodeAddress
from pressluft_core.services.base import Runtime

if TYPE_CHECKING:
    from pressluft_core.remote.connection import ConnectionPool, NodeSession, RunResult


class JobContext:
    def __init__(self, rt: Runtime, job: JobRecord, log: JobLog, redactor: Redactor,
                 pool: Callable[[], ConnectionPool] | None,
                 node: NodeAddress | None = None) -> None:
        self.rt = rt
        self.job = job
        self.log = log
        self.cancel = asyncio.Event()
        self.cancel_reason: str | None = None
        self._redactor = redactor
        self._pool = pool
        # The node as the claim read it: used by the first command only, later ones read
        # it again (an operator may clear its host key while a long job runs).
        self._claimed_node = node
        # What one step hands to the next within an attempt (never persisted: every
        # attempt starts from the payload alone).
        self.state: dict[str, Any] = {}
        self.step_line = ""  # "step 2/3: …", set by the worker before each step
        self.progress_hook: Callable[[str], None] | None = None
        try:
            self.payload: dict[str, Any] = json.loads(job.payload_json)
        except json.JSONDecodeError as exc:
            raise JobFailure("INVALID_PAYLOAD", f"payload is not JSON: {exc.msg}") from None

    # -- helpers for steps --------------------------------------------------------------

    def info(self, message: str) -> None:
        self.log.write("info", message)

    def progress(self, detail: str) -> None:
        """Tell the console how far the current step is (``… — 1.2 GiB sent``); written
        to the database at most once a second like the step lines."""
        if self.progress_hook is not None:
            self.progress_hook(f"{self.step_line} — {detail}")

    async def stream(self, argv: Sequence[str], *, sudo: bool = True,
                     on_stdout: Callable[[bytes], Awaitable[None]] | None = None,
                     stdin: AsyncIterator[bytes] | None = None) -> int:
        """Run ``argv`` with binary stdout/stdin (backups, restores); stderr lines go to
        the log. Returns the exit status; honours cancellation."""
        session = await self.session()
        return await session.stream(argv, sudo=sudo, on_stdout=on_stdout, stdin=stdin,
                                    on_stderr=lambda line: self.log.write("err", line),
                                    cancel=self.cancel)

    def require(self, key: str) -> Any:
        if key not in self.payload:
            raise JobFailure("INVALID_PAYLOAD", f"payload has no {key!r}")
        return self.payload[key]

    def secret(self, name: str) -> str:
        """A value from the secrets store, registered so it never shows in the log."""
        value = self.rt.secrets.get(name)
        self._redactor.add(value)
        return value

    def redact(self, value: str) -> None:
        """Keep ``value`` out of the log (a part of a secret, e.g. one field of JSON)."""
        self._redactor.add(value)

    def node(self) -> Node:
        node = Node.get_or_none(Node.id == self._node_id())
        if node is None:
            raise JobFailure("PRECONDITION", f"node {self.job.node_id} no longer exists")
        return node

    def _node_id(self) -> str:
        if not self.job.node_id:
            raise JobFailure("INVALID_PAYLOAD", f"{self.job.job_type} job has no node")
        return self.job.node_id

    def on_node(self, node_id: str) -> JobContext:
        """The same job (log, state, cancellation) acting on another node: a move reads
        one node and writes another. Only the node that commands go to differs."""
        other = copy.copy(self)
        other.job = dataclasses.replace(self.job, node_id=node_id)
        other._claimed_node = None
        return other

    async def session(self) -> NodeSession:
        from pressluft_core.remote.connection import NodeTarget

        if self._pool is None:
            raise JobFailure("INTERNAL_ERROR", "this worker has no SSH connection pool")
        node, self._claimed_node = self._claimed_node, None
        if node is None:
            node = self._read_node()
        target = NodeTarget(node_id=self._node_id(), host=node.hostname, port=node.ssh_port,
                            user=node.ssh_user, known_host_key=node.ssh_host_key,
                            name=node.name)
        pool = self._pool()
        if node.ssh_host_key is None:
            # Nothing recorded: first use, or an operator cleared a key that changed
            # legitimately (`node forget-host-key`). A long-lived worker's pool must not
            # keep refusing the new key from memory.
            await pool.forget_host_key(target.node_id)
        return await pool.session(target)

    def _read_node(self) -> NodeAddress:
        """Plain SQL: building the model query cost more than a short command itself."""
        db = self.rt.db
        mark = "?" if dialect_of(db) == "sqlite" else "%s"
        row = db.execute_sql("SELECT hostname, ssh_port, ssh_user, ssh_host_key, name "
                             f"FROM nodes WHERE id = {mark}", [self._node_id()]).fetchone()
        if row is None:
            raise JobFailure("PRECONDITION", f"node {self.job.node_id} no longer exists")
        return NodeAddress(*row)

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        sudo: bool = True,
        ok_exit: Sequence[int] = (0,),
        retryable: bool = False,
        timeout: float | None = None,
    ) -> RunResult:
        """Run ``argv`` on the job's node, output streamed into the log line by line.

        An exit status outside ``ok_exit`` fails the step: ``COMMAND_FAILED``, or
        ``STEP_RETRYABLE`` when the step knows a retry can help.
        """
        session = await self.session()
        result = await session.run(
            argv, input=input, sudo=sudo, timeout=timeout, cancel=self.cancel,
            on_output=lambda stream, line: self.log.write(
                "out" if stream == "stdout" else "err", line),
        )
        if result.exit_status not in ok_exit:
            raise JobFailure(
                "STEP_RETRYABLE" if retryable else "COMMAND_FAILED",
                f"`{argv[0]}` exited with status {result.exit_status} on node "
                f"{self.node().name}",
            )
        return result
