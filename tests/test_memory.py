"""The control plane fixes glibc's mmap threshold (see ``pressluft_core/memory.py``); the
2 GiB backup in tests/wordpress/test_backup_e2e.py measures what it is for."""

from __future__ import annotations

import platform

import pytest

from pressluft_core.memory import return_large_blocks_to_the_kernel


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_threshold_is_set_on_glibc() -> None:
    assert return_large_blocks_to_the_kernel() is True
