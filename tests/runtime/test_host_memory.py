"""runtime/malloc_pad: freed heap memory stays mapped (no page faults on reuse), and the entry
scripts restart once with glibc's huge-page and top-pad tunables."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from sambamotr_jax.runtime import malloc_pad

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


# Prints the tunables and pid it runs with, after `configure()` (which may restart it).
_CONFIGURE = """
import os
from sambamotr_jax.runtime import malloc_pad
print("start", os.getpid(), flush=True)
malloc_pad.configure()
print("after", os.getpid(), os.environ.get("GLIBC_TUNABLES"))
"""


def _configure(env_extra: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TOP_PAD_", "GLIBC_TUNABLES")}
    return subprocess.run(
        [sys.executable, "-c", _CONFIGURE],
        env={**env, **env_extra},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()


@pytest.mark.skipif(
    not malloc_pad.huge_pages_on_request(),
    reason="the kernel's transparent huge pages are not in madvise mode",
)
def test_configure_restarts_once_with_the_tunables():
    lines = _configure({})
    # Started twice (the restart), same pid, and the second run has the tunables.
    starts = [ln for ln in lines if ln.startswith("start")]
    assert len(starts) == 2 and len({ln.split()[1] for ln in starts}) == 1
    assert lines[-1].split()[1] == starts[0].split()[1]
    assert lines[-1].split()[2] == malloc_pad.HOST_MEMORY_TUNABLES


def test_configure_leaves_a_user_setting_alone():
    lines = _configure({"GLIBC_TUNABLES": ""})
    assert [ln.split()[0] for ln in lines] == ["start", "after"]
    assert lines[-1].split()[2:] == []  # the empty value, kept
