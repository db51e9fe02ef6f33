"""Node-side helper scripts are uploaded on demand under their checksum, and the sudo
rules for non-root node users."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import asyncssh
import pytest

from tests.remote.support import arun, open_pool
from tests.sshserver import SSHTestServer

HELPER = b"#!/bin/sh\necho 'helper says' \"$@\"\n"


def test_helper_is_uploaded_once_under_its_checksum(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey) -> None:
    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(ssh_server.target())
            path = await session.upload_helper("say.sh", HELPER)
            uploads_before = len(ssh_server.commands_matching("pressluft-upload"))
            assert await session.upload_helper("say.sh", HELPER) == path  # cached
            assert len(ssh_server.commands_matching("pressluft-upload")) == uploads_before
            ran = await session.run(["sh", path, "x y"])
            changed = await session.upload_helper("say.sh", HELPER + b"# v2\n")
            return path, ran, changed

    path, ran, changed = arun(scenario())
    digest = hashlib.sha256(HELPER).hexdigest()
    helpers = ssh_server.workdir / ".cache" / "pressluft" / "helpers"
    assert Path(path) == helpers / f"{digest[:16]}-say.sh"
    assert Path(path).read_bytes() == HELPER
    assert ran.output_tail == "helper says x y"
    assert changed != path and Path(changed).read_bytes().endswith(b"# v2\n")
    assert sorted(p.name for p in helpers.iterdir() if p.name.endswith(".tmp")) == []
    stamp = os.stat(path)

    async def new_connection():
        async with open_pool(control_key) as pool:
            session = await pool.session(ssh_server.target())
            return await session.upload_helper("say.sh", HELPER)

    assert arun(new_connection()) == path
    assert os.stat(path).st_mtime_ns == stamp.st_mtime_ns  # present: not rewritten
    assert os.stat(path).st_ino == stamp.st_ino


def test_helper_names_are_plain_file_names(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey) -> None:
    async def scenario():
        async with open_pool(control_key) as pool:
            session = await pool.session(ssh_server.target())
            for bad in ("../evil", "a/b", "", "-rf", "x y"):
                with pytest.raises(ValueError):
                    await session.upload_helper(bad, HELPER)

    arun(scenario())


needs_sudo = pytest.mark.skipif(
    shutil.which("sudo") is None or os.geteuid() != 0,
    reason="needs sudo and root (scripts/test installs sudo)")


@needs_sudo
def test_non_root_user_runs_commands_through_sudo_n(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    async def scenario():
        async with open_pool(control_key, use_agent=mode == "agent") as pool:
            session = await pool.session(ssh_server.target(user="deploy"))
            as_root = await session.run(["id", "-u"])
            plain = await session.run(["echo", "no sudo"], sudo=False)
            return as_root, plain

    as_root, plain = arun(scenario())
    assert as_root.output_tail == "0"
    assert plain.output_tail == "no sudo"
    privileged = [c for c in ssh_server.commands_matching("sudo -n") if "pressluft-upload" not in c]
    if mode == "agent":  # one agent under sudo, one without, each started once
        assert [c.split()[:4] for c in privileged] == [["sudo", "-n", "python3", "-I"]]
        assert len(ssh_server.commands_matching("python3 -I")) == 2
    else:
        assert [c.split()[:4] for c in privileged] == [["exec", "sudo", "-n", "sh"]]


@needs_sudo
def test_root_user_never_uses_sudo(
        ssh_server: SSHTestServer, control_key: asyncssh.SSHKey, mode: str) -> None:
    async def scenario():
        async with open_pool(control_key, use_agent=mode == "agent") as pool:
            session = await pool.session(ssh_server.target(user="root"))
            return await session.run(["id", "-u"])

    assert arun(scenario()).output_tail == "0"
    assert ssh_server.commands_matching("sudo -n") == []
