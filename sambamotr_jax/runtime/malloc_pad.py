"""Host memory: glibc malloc settings for XLA:CPU's per-execution buffers.

Two settings, applied by the entry scripts (train.py, eval.py, track, demo, serve) through
`configure()` before anything runs:

- **Huge pages.** The deformable attention gathers rows at random from a value tensor of tens of
  MB per layer (24.5 MB at 800x1440). With 4 KiB pages most gathers miss the TLB; with 2 MiB
  transparent huge pages they do not. Where the kernel gives huge pages only on request
  (`/sys/kernel/mm/transparent_hugepage/enabled` = madvise, the usual default), glibc asks for
  them with the tunable `glibc.malloc.hugetlb=1`, which is read when the process starts:
  `configure()` therefore starts the program again (same pid, same arguments, `os.execve`)
  with `GLIBC_TUNABLES` set. Deformable attention at the 800x1440 encoder shape, forward, on a
  2-core AMD EPYC: 0.39-0.57 s without (two modes, by where the buffers land) and 0.29-0.30 s
  with (docs/benchmarks.md).
- **Top pad.** XLA:CPU frees each execution's buffers when it ends; with glibc's defaults the
  freed top of the heap goes back to the kernel and the next step faults every page in again. A
  top pad of 256 MB (`glibc.malloc.top_pad`, or `mallopt(M_TOP_PAD)` where the restart is not
  possible) keeps that memory mapped. Measured on a 2-core Intel Xeon: the frame step at
  256x352 0.50 -> 0.41 s and 0.62 -> 0.55 s (two alternating pairs); the synthetic training
  step, 15,000 -> 3 minor page faults and 250 -> 220 ms CPU per step.

A user who sets `GLIBC_TUNABLES` or `MALLOC_TOP_PAD_` (even to an empty value) keeps their own
settings: nothing is changed or restarted. On another C library nothing is done. The cost is up
to the pad of resident memory per malloc arena, and memory held in 2 MiB pages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys

M_TOP_PAD = -2  # glibc <malloc.h>
DEFAULT_TOP_PAD_BYTES = 256 << 20
# What `configure()` starts the program with (glibc >= 2.35 reads hugetlb; older ones ignore it).
HOST_MEMORY_TUNABLES = f"glibc.malloc.hugetlb=1:glibc.malloc.top_pad={DEFAULT_TOP_PAD_BYTES}"
_THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


def _user_has_settings() -> bool:
    return (
        os.environ.get("MALLOC_TOP_PAD_") is not None
        or os.environ.get("GLIBC_TUNABLES") is not None
    )


def _is_glibc_linux() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def huge_pages_on_request() -> bool:
    """True when the kernel gives transparent huge pages to memory that asks (madvise mode)."""
    try:
        with open(_THP_SETTING) as f:
            return "[madvise]" in f.read()
    except OSError:
        return False


def configure() -> None:
    """Applies both settings (module docstring): restarts the program once with
    `HOST_MEMORY_TUNABLES` where that gives huge pages, else sets the top pad in place.

    Call it first in an entry script's main, before any device work: a restart runs the program
    again from its start with the same arguments, standard streams and pid.
    """
    if _user_has_settings() or not _is_glibc_linux():
        return
    if huge_pages_on_request() and getattr(sys, "orig_argv", None):
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(
            sys.executable, sys.orig_argv, {**os.environ, "GLIBC_TUNABLES": HOST_MEMORY_TUNABLES}
        )
    keep_freed_memory()


def keep_freed_memory(top_pad_bytes: int = DEFAULT_TOP_PAD_BYTES) -> bool:
    """Sets glibc malloc's top pad; returns True when it was set (glibc, no user setting)."""
    if _user_has_settings() or not _is_glibc_linux():
        return False  # the user's own setting wins
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
