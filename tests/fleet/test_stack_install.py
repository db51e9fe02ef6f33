"""Opt-in (PRESSLUFT_TEST_FLEET_STACK=1): the WordPress stack installs on bare nodes with
their own apt-get through the host's proxy, as provisioning will do it. Off by default: it
takes 55-70 s for both suites in parallel on 2 cores, mostly dpkg (a warm proxy cache saves
little), and the provisioning tests will exercise the same path."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fleet.fleet import Fleet

INSTALL = ("apt-get update -qq && apt-get install -y -qq --no-install-recommends "
           "nginx php-fpm mariadb-server > /var/log/stack-install.log 2>&1 "
           "|| { tail -n 40 /var/log/stack-install.log; exit 1; }")
ACTIVE = "cd /lib/systemd/system && systemctl is-active nginx mariadb php*-fpm.service"

pytestmark = pytest.mark.skipif(not os.environ.get("PRESSLUFT_TEST_FLEET_STACK"),
                                reason="set PRESSLUFT_TEST_FLEET_STACK=1 (slow: ~1 min)")


def test_stack_installs_on_bare_bookworm_and_trixie(fleet: Fleet) -> None:
    nodes = fleet.boot("bookworm", "trixie")  # nodes of its own: the shared ones stay bare
    try:
        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(lambda node: node.exec(["sh", "-c", INSTALL], timeout=900), nodes))
        for node in nodes:
            assert node.exec(["sh", "-c", ACTIVE]).stdout.split() == ["active"] * 3
    finally:
        for node in nodes:
            fleet.destroy(node)
