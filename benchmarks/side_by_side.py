"""Ours beside the official code in one run: the machine's load, and the official timing tools.

A ratio is only meaningful on an idle machine: other jobs slow PyTorch's threads more than
XLA's. The comparing benchmarks therefore print the load average and the number of busy cores
(other processes' CPU use over one second, while the benchmark itself waits) before and after,
alternate ours and theirs in rounds, and mark ratios measured on a busy machine as such.

The official code runs in its own environment (torch, torchvision and a checkout of the official
repository: ../shared/tools/official_cpu_timing/README.md) as a subprocess that inherits this
process's environment, glibc tunables included (runtime/malloc_pad.py), so both sides run with
the same memory settings.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
OFFICIAL_TOOLS = ROOT.parent / "shared" / "tools" / "official_cpu_timing"

# Other processes using more than this many cores before or after the run make the machine
# "busy". The load averages are printed too, but they trail by minutes (a job that just ended
# still counts), so they do not decide.
BUSY_CORES = 0.3


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(seconds: float = 1.0) -> float:
    """Cores kept busy by other processes during `seconds` (this process sleeps meanwhile)."""
    try:
        b0, t0 = _cpu_ticks()
        time.sleep(seconds)
        b1, t1 = _cpu_ticks()
    except OSError:
        return float("nan")
    cores = os.cpu_count() or 1
    return round(cores * (b1 - b0) / max(t1 - t0, 1), 2)


def load_report() -> dict:
    """{'load_average': (1, 5, 15 min), 'busy_cores': other processes' cores over 1 s}."""
    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "busy_cores": busy_cores(),
    }


def machine_state(before: dict, after: dict) -> dict:
    """The two load reports and whether the machine was busy around the run."""
    busy = before["busy_cores"] > BUSY_CORES or after["busy_cores"] > BUSY_CORES
    return {"before": before, "after": after, "busy": bool(busy)}


def marked(ratio: float, busy: bool) -> str:
    """A ratio as printed: '0.47', or '0.47 (busy machine)'."""
    return f"{ratio:.3f}" + (" (busy machine)" if busy else "")


def run_official(tool: str, args: list[str], python: str, ref_dir: str, env_var: str) -> dict:
    """Runs ../shared/tools/official_cpu_timing/`tool` with `args` and returns its JSON."""
    env = dict(os.environ, **{env_var: ref_dir})
    out = subprocess.run(
        [python, str(OFFICIAL_TOOLS / tool), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout[out.stdout.index("{") :])


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
