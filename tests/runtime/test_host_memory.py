"""malloc_pad.keep_freed_memory: freed heap memory stays mapped (no page faults on reuse)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc malloc only",
)

# Allocates, touches and frees 20 MB in 100 kB blocks (heap-sized, as XLA's small buffers), ten
# times over, and prints the minor page faults of the repetitions.
_PROGRAM = """
import ctypes, ctypes.util, resource, sys
from sambamotr_jax.runtime import malloc_pad
print(malloc_pad.keep_freed_memory() if sys.argv[1] == "pad" else None)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
def cycle():
    blocks = [libc.malloc(100_000) for _ in range(200)]
    for b in blocks:
        ctypes.memset(b, 1, 100_000)
    for b in reversed(blocks):
        libc.free(b)
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(mode: str, extra: dict[str, str]) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TOP_PAD_", "GLIBC_TUNABLES")}
    out = subprocess.run(
        [sys.executable, "-c", _PROGRAM, mode],
        env={**env, **extra},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], int(out[1])


def test_freed_memory_is_reused_without_page_faults():
    _, default_faults = _run("default", {})
    was_set, padded_faults = _run("pad", {})
    assert was_set == "True"
    # glibc gives the freed top of the heap back and faults it in again each time (~48,000
    # here); with the pad the pages stay.
    assert default_faults > 5_000
    assert padded_faults < default_faults / 50


def test_a_user_setting_wins():
    was_set, _ = _run("pad", {"MALLOC_TOP_PAD_": "0"})
    assert was_set == "False"
