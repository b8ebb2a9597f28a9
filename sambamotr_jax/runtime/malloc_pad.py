"""Host memory: let glibc's malloc keep freed memory for the next step instead of returning it.

XLA:CPU allocates each execution's buffers with malloc and frees them when it ends. With glibc's
defaults the freed top of the heap goes back to the kernel and the next step faults every page in
again. A top pad of 256 MB (`mallopt(M_TOP_PAD)`) keeps that memory mapped. Measured on a 2-core
Intel Xeon (2026-11-23): the tracker's frame step at 256x352 (`benchmarks/inference.py`) 0.50 ->
0.41 s and 0.62 -> 0.55 s (two alternating pairs); the synthetic training step repeated in a
loop, 15,000 -> 3 minor page faults and 250 -> 220 ms CPU per step; the whole synthetic training
run, 98 -> 63 s of system time and no change in total CPU time (within noise). The entry scripts
(train.py, eval.py, track, demo) call `keep_freed_memory()` first; on another C library, or when
the user has set `MALLOC_TOP_PAD_` or glibc tunables, it does nothing. The cost is up to the pad
of resident memory per malloc arena that is not given back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TOP_PAD = -2  # glibc <malloc.h>
DEFAULT_TOP_PAD_BYTES = 256 << 20


def keep_freed_memory(top_pad_bytes: int = DEFAULT_TOP_PAD_BYTES) -> bool:
    """Sets glibc malloc's top pad; returns True when it was set (glibc, no user setting)."""
    if os.environ.get("MALLOC_TOP_PAD_") is not None or os.environ.get("GLIBC_TUNABLES"):
        return False  # the user's own setting wins
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_TOP_PAD, int(top_pad_bytes)) == 1
