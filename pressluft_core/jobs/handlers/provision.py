"""``node_provision``: install and configure the WordPress stack on a node (DESIGN.md §6).

The work happens in one node-side script, ``pressluft_core/node/provision.sh``, which is
idempotent and decides per part whether anything needs changing; this module uploads it,
feeds it its inputs as JSON on stdin (never as shell text), and then checks from the node
itself that nginx answers the way site jobs will rely on.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pressluft_core.clock import to_iso
from pressluft_core.concurrency import update_versioned
from pressluft_core.db import write_transaction
from pressluft_core.jobs.context import JobContext
from pressluft_core.jobs.errors import JobFailure
from pressluft_core.jobs.handlers.diagnostic import record_facts
from pressluft_core.jobs.registry import job_type
from pressluft_core.models import Node

SCRIPT_NAME = "provision.sh"
SCRIPT = (Path(__file__).resolve().parent.parent.parent / "node" / SCRIPT_NAME).read_bytes()
DEFAULT_SITES_ROOT = "/var/www/sites"
# An ACME challenge for any name must reach nginx's webroot (404 for a missing token), and
# a request for an unknown host must get no answer at all (444: curl reports 000).
ACME_PROBE = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
              "-H", "Host: acme-probe.invalid",
              "http://127.0.0.1/.well-known/acme-challenge/pressluft-probe"]
UNKNOWN_HOST_PROBE = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                      "10", "-H", "Host: unknown-host.invalid", "http://127.0.0.1/"]
CURL_EMPTY_REPLY = 52
PROBE_ATTEMPTS = 20  # an nginx reload takes effect asynchronously (stack-notes pitfall 3)


def _set_status(ctx: JobContext, status: str) -> None:
    """Nodes have their own status (the job runner only moves environments): provisioning
    while the job runs, active once the stack answers. A decommissioned node stays so."""
    node = Node.get_by_id(ctx.node().id)
    if node.status == "decommissioned":
        raise JobFailure("PRECONDITION", f"node {node.name} is decommissioned")
    changes: dict[str, object] = {"status": status}
    if status == "active":
        changes["last_seen_at"] = to_iso(ctx.rt.clock.now())
    with write_transaction(ctx.rt.db):
        update_versioned(Node, node.id, node.state_version, ctx.rt.clock, **changes)
    ctx.info(f"node {node.name}: {status}")


async def _upload(ctx: JobContext) -> None:
    _set_status(ctx, "provisioning")
    session = await ctx.session()
    # Each attempt uploads again (ctx.state is not persisted), which costs nothing when
    # the checksum-named file is already on the node.
    path = await session.upload_helper(SCRIPT_NAME, SCRIPT)
    ctx.state["script"] = path
    ctx.info(f"provisioning script at {path}")


async def _provision(ctx: JobContext) -> None:
    node = ctx.node()
    inputs = {"sites_root": ctx.payload.get("sites_root") or DEFAULT_SITES_ROOT,
              "ssh_port": node.ssh_port}
    await ctx.run(["bash", ctx.state["script"]], input=json.dumps(inputs).encode(),
                  sudo=True)


async def _probe(ctx: JobContext, argv: list[str], expected: str) -> str:
    """Run ``argv`` until curl prints ``expected`` (or attempts run out); the last answer."""
    answer = ""
    for _ in range(PROBE_ATTEMPTS):
        result = await ctx.run(argv, sudo=False, ok_exit=(0, CURL_EMPTY_REPLY))
        lines = result.output_tail.strip().splitlines()
        answer = lines[-1].strip() if lines else ""
        if answer == expected:
            break
        await asyncio.sleep(0.25)
    return answer


async def _check(ctx: JobContext) -> None:
    acme = await _probe(ctx, ACME_PROBE, "404")
    if acme != "404":
        raise JobFailure("COMMAND_FAILED", f"nginx answered {acme or 'nothing'} to an ACME "
                         "challenge for an unknown name (expected 404)")
    unknown = await _probe(ctx, UNKNOWN_HOST_PROBE, "000")
    if unknown != "000":
        raise JobFailure("COMMAND_FAILED", f"nginx answered {unknown} to an unknown host "
                         "(expected no answer: 444)")
    ctx.info("nginx: 404 for ACME challenges on any name, no answer for unknown hosts")
    await record_facts(ctx)
    _set_status(ctx, "active")


NODE_PROVISION = job_type(
    "node_provision",
    ("upload the provisioning script", _upload),
    ("provision", _provision),
    ("check the stack answers", _check),
    running_status=None,
    timeout_seconds=30 * 60,
)
