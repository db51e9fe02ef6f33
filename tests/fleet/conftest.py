"""The session's fleet: one bare bookworm and one bare trixie node, shared by every module
under tests/fleet/ (booting costs seconds; tests that change a node clean up after
themselves or add a node of their own with `fleet.node(suite)`)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.fleet import Fleet
from tests.fleet.nspawn import NspawnNode


@pytest.fixture(scope="session")
def fleet_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A control key (private key path; `.pub` beside it) authorized for root on every
    node of the session's fleet, like the key a provider puts on a new VPS."""
    key = tmp_path_factory.mktemp("fleet-key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pressluft-fleet",
                    "-f", str(key)], check=True)
    return key


@pytest.fixture(scope="session")
def fleet(fleet_key: Path) -> Iterator[Fleet]:
    """A Fleet with `fleet.get('bookworm')` and `fleet.get('trixie')` booted."""
    if not os.environ.get("PRESSLUFT_TEST_FLEET"):
        pytest.skip("PRESSLUFT_TEST_FLEET is not set: no node bases, bridge or apt proxy "
                    "(scripts/test prepares them as root; see scripts/lib/nodes.sh)")
    if os.geteuid() != 0:
        pytest.skip("test nodes need root")
    with Fleet(authorized_keys=fleet_key.with_suffix(".pub").read_text()) as nodes:
        nodes.boot("bookworm", "trixie")
        yield nodes


@pytest.fixture
def bookworm_node(fleet: Fleet) -> NspawnNode:
    return fleet.get("bookworm")


@pytest.fixture
def trixie_node(fleet: Fleet) -> NspawnNode:
    return fleet.get("trixie")
