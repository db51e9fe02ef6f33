"""Job types that need no WordPress stack: ``noop`` (diagnostics, tests, benchmarks) and
``node_check`` (can the control plane reach and use a node?)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from pressluft_core.clock import to_iso
from pressluft_core.concurrency import update_versioned
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import Node
from pressluft_core.remote.errors import RemoteError

# -- noop -------------------------------------------------------------------------------
# Payload (all optional): lines (int: lines of output to write), command (argv to run on
# the node), stdin_secret_ref (secret fed to the command's stdin, for redaction checks),
# sleep (seconds), fail (an error code to fail with), record (a file to append
# "<job id> <pid> <start> <end>" to, for exactly-once checks).


async def _noop_prepare(ctx: JobContext) -> None:
    for number in range(int(ctx.payload.get("lines", 0))):
        ctx.log.write("out", f"line {number + 1}")
    ctx.state["started"] = time.time()


async def _noop_run(ctx: JobContext) -> None:
    command = ctx.payload.get("command")
    if command:
        if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
            raise JobFailure("INVALID_PAYLOAD", "command must be a list of strings")
        secret_ref = ctx.payload.get("stdin_secret_ref")
        stdin = ctx.secret(secret_ref).encode() if secret_ref else None
        await ctx.run(command, input=stdin, sudo=False)
    sleep = float(ctx.payload.get("sleep", 0))
    if sleep:
        cancelled = asyncio.create_task(ctx.cancel.wait())
        await asyncio.wait({cancelled}, timeout=sleep)
        cancelled.cancel()


async def _noop_finish(ctx: JobContext) -> None:
    if ctx.payload.get("fail"):
        raise JobFailure(ctx.payload["fail"], f"asked to fail with {ctx.payload['fail']}")
    record = ctx.payload.get("record")
    if record:
        line = f"{ctx.job.id} {os.getpid()} {ctx.state['started']:.6f} {time.time():.6f}\n"
        fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


NOOP = job_type("noop", ("prepare", _noop_prepare), ("run", _noop_run),
                ("finish", _noop_finish))


# -- node_check -------------------------------------------------------------------------


async def _check_connect(ctx: JobContext) -> None:
    node = ctx.node()
    ctx.info(f"connecting to {node.ssh_user}@{node.hostname}:{node.ssh_port}")
    try:
        await ctx.session()
    except RemoteError:
        _set_node_status(node.id, "unreachable", ctx)
        raise


FACTS_SCRIPT = (Path(__file__).resolve().parent.parent.parent / "node" / "facts.py").read_bytes()
FACT_COLUMNS = ("os_release", "php_version", "mariadb_version", "nginx_version")


async def _check_probe(ctx: JobContext) -> None:
    await ctx.run(["uname", "-srm"], sudo=False)
    await ctx.run(["python3", "--version"], sudo=False)
    await record_facts(ctx)


async def record_facts(ctx: JobContext) -> dict[str, object]:
    """Read what the node runs (``node/facts.py`` on its python3) and record it on the
    node, so the console can show OS and stack versions without asking the node."""
    result = await ctx.run(["python3", "-"], input=FACTS_SCRIPT, sudo=False)
    lines = result.output_tail.strip().splitlines()
    try:
        facts = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise JobFailure("COMMAND_FAILED", "the node's facts could not be read") from None
    node = Node.get_by_id(ctx.node().id)
    changes = {column: facts.get(column) for column in FACT_COLUMNS}
    with write_transaction(ctx.rt.db):
        update_versioned(Node, node.id, node.state_version, ctx.rt.clock, **changes)
    ctx.info(f"node {node.name}: {facts.get('os_release')}, init {facts.get('init')}, "
             f"PHP {facts.get('php_version') or '-'}, MariaDB "
             f"{facts.get('mariadb_version') or '-'}, nginx {facts.get('nginx_version') or '-'}")
    return facts


async def _check_record(ctx: JobContext) -> None:
    _set_node_status(ctx.node().id, "active", ctx)


def _set_node_status(node_id: str, status: str, ctx: JobContext) -> None:
    """A decommissioned node stays decommissioned; otherwise reachability decides."""
    node = Node.get_by_id(node_id)
    changes: dict[str, object] = {}
    if status == "active":
        changes["last_seen_at"] = to_iso(ctx.rt.clock.now())
    if node.status != "decommissioned":
        changes["status"] = status
    with write_transaction(ctx.rt.db):
        update_versioned(Node, node.id, node.state_version, ctx.rt.clock, **changes)
    ctx.info(f"node {node.name}: {changes.get('status', node.status)}")


NODE_CHECK = job_type("node_check", ("connect", _check_connect),
                      ("probe the node", _check_probe), ("record", _check_record),
                      timeout_seconds=120)
