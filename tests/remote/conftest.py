"""Fixtures for the remote-execution tests: the in-process SSH server (shared with other
test packages through tests/sshserver.py) and the execution mode parameter."""

from __future__ import annotations

import pytest

from tests.sshserver import control_key, ssh_server

__all__ = ["control_key", "ssh_server"]


@pytest.fixture(params=["agent", "exec"])
def mode(request: pytest.FixtureRequest) -> str:
    """Run a test through the node agent and through the one-exec-per-command fallback."""
    return request.param
