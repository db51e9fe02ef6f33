"""Keeping the control plane's memory flat while backups and restores stream through it.

Backups and restores pass 8-56 MiB multipart parts through memory from several threads
(boto3 runs in ``asyncio.to_thread``). glibc raises its mmap threshold to the largest block
freed so far, so after the first part every later one comes from a thread's heap arena,
where fragmentation keeps freed parts resident: peak RSS of a 2 GiB backup varied from 127
to 143 MiB between runs. With the threshold fixed at 1 MiB, large buffers are mmapped and
given back to the kernel when freed (120 MiB, run after run). Elsewhere (musl, macOS) this
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
LARGE_BLOCK = 1 << 20


def return_large_blocks_to_the_kernel() -> bool:
    """Fix glibc's mmap threshold at 1 MiB (no effect on other C libraries); True if set."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK))
