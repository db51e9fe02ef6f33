"""The node package (``pressluft_core/node/ctl``) as the tests run it: its zipapp, built
and written once, named as on a node. Its rules are tested by importing its modules."""

from __future__ import annotations

from pressluft_core.node.bundle import command, local_copy

__all__ = ["command", "local_copy"]
