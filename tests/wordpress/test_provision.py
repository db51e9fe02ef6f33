"""``node_provision`` end to end on this machine, through the real OpenSSH sshd: the stack
is installed and started, nginx answers 444 to unknown hosts and 404 on the ACME path for
any name, and a second run changes nothing. Hostile inputs are refused before any job."""

from __future__ import annotations

import socket

import pytest

from pressluft_core.errors import ValidationError
from pressluft_core.models import Job, Node
from pressluft_core.remote.keys import ensure_control_key
from tests.jobs.test_remote_jobs import log_text, run_job
from tests.sshserver import (
    REAL_SSHD_PORT,
    REAL_SSHD_USER,
    authorized_on_real_sshd,
    needs_real_sshd,
)


def raw_http(host: str, path: str) -> bytes:
    """The whole answer of nginx on 127.0.0.1:80 to one GET (b"" when it closed without
    answering, which is what 444 does)."""
    with socket.create_connection(("127.0.0.1", 80), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def output_lines(core, job_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The job's command output (``out`` lines), without timestamps and tags (a line is
    ``<timestamp> <tag padded to 4> <text>``)."""
    lines = []
    for line in log_text(core, job_id).splitlines():
        _, _, rest = line.partition(" ")
        if rest.startswith("out  "):
            lines.append(rest[5:])
    return lines


@needs_real_sshd
def test_provision_installs_and_starts_the_stack_and_a_second_run_changes_nothing(
        core, token):  # type: ignore[no-untyped-def]
    assert REAL_SSHD_PORT and REAL_SSHD_USER
    with authorized_on_real_sshd(ensure_control_key(core.rt.secrets)):
        node = core.nodes.register(token, "provision-me", "127.0.0.1",
                                   ssh_port=int(REAL_SSHD_PORT), ssh_user=REAL_SSHD_USER,
                                   public_ip="127.0.0.1")
        first = run_job(core, core.nodes.provision(token, node.name).id)
        assert first.status == "succeeded", first.error_message
        said = [line for line in output_lines(core, first.id)
                if line.startswith("changed: ") or line == "no changes"]
        assert said, log_text(core, first.id)
        assert Node.get_by_id(node.id).status == "active"

        assert raw_http("nobody-knows-me.invalid", "/") == b""
        for host in ("nobody-knows-me.invalid", "some-site.example"):
            answer = raw_http(host, "/.well-known/acme-challenge/x")
            assert answer.startswith(b"HTTP/1.1 404"), answer[:200]

        second = run_job(core, core.nodes.provision(token, node.name).id)
        assert second.status == "succeeded", second.error_message
        lines = output_lines(core, second.id)
        assert "no changes" in lines, log_text(core, second.id)
        assert not [line for line in lines if line.startswith("changed: ")]
        assert "step 3/3: check the stack answers" in log_text(core, second.id)


@pytest.mark.parametrize("hostile", ["/tmp/x; touch /tmp/pwned", "relative/path",
                                     "/var/www/../etc", "/var/www/$(id)", "/", "",
                                     "/var/www/sites\nlisten 81;"])
def test_hostile_sites_root_is_refused_before_any_job(core, token, hostile):  # type: ignore[no-untyped-def]
    node = core.nodes.register(token, "hostile-root", "127.0.0.1", public_ip="127.0.0.1")
    with pytest.raises(ValidationError, match="sites_root"):
        core.nodes.provision(token, node.name, sites_root=hostile)
    assert not Job.select().where(Job.node_id == node.id).exists()


def test_provision_queues_a_job_with_the_checked_sites_root(core, token):  # type: ignore[no-untyped-def]
    node = core.nodes.register(token, "queued", "127.0.0.1", public_ip="127.0.0.1")
    job = core.nodes.provision(token, node.name, sites_root="/srv/pressluft/sites/")
    row = Job.get_by_id(job.id)
    assert (row.job_type, row.max_attempts, row.status) == ("node_provision", 3, "queued")
    assert '"sites_root": "/srv/pressluft/sites"' in row.payload_json
