"""Per-frame latency of the jitted tracking step, compile time and peak memory.

    python benchmarks/inference.py --size 256 352 --size 800 1440 [--config configs/dancetrack.py]
        [--frames 3] [--warmup 3] [--rounds 2] [--impl xla]
        [--official SAMBA_REF_DIR --official-python REFVENV/bin/python]

Weights are randomly initialized: every shape is static (300 detection queries + the track
capacity), so the time does not depend on their values (with random weights no track is born,
as in the official forward with no track queries). Each size compiles once; each round times
`--frames` frames after `--warmup` untimed ones. `--official DIR` times the official PyTorch
forward with ../shared/tools/official_cpu_timing/time_official.py (needs torch, torchvision and
the official code, see that folder's README) after each round of ours, and prints the ratio of
each round and their median, marked when the machine was busy (benchmarks/side_by_side.py:
load average and busy cores before and after). Prints one JSON object.

Each round reports its median frame and its fastest frame. On a 2-core machine XLA:CPU runs one
process in two phases that switch every few seconds (docs/benchmarks.md, "XLA:CPU's two phases
on this machine"): the fastest frame is the fast phase, the median whichever phase the round
fell in; every frame's time is printed too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import platform
import resource
import sys
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import side_by_side  # noqa: E402
from sambamotr_jax import api
from sambamotr_jax import model as model_lib
from sambamotr_jax.runtime import malloc_pad  # noqa: E402


def load_config(path: str):
    spec = importlib.util.spec_from_file_location("bench_config", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def machine() -> str:
    dev = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{dev.platform}:{dev.device_kind}; cpu {cpu} x{os.cpu_count()}"


def peak_memory_mb() -> float:
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # host RSS (KiB on Linux)


def compile_size(tracker, height: int, width: int):
    """(the frame step compiled for one size, its inputs, compile seconds)."""
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, height, width, 3)).astype(np.float32)
    mask = np.zeros((1, height, width), bool)
    orig = np.array([height, width], np.float32)
    inputs = (tracker.new_state(), image, mask, orig)
    t0 = time.perf_counter()
    compiled = tracker._step.lower(tracker.variables, *inputs).compile()
    return compiled, inputs, time.perf_counter() - t0


def time_frames(tracker, compiled, inputs, frames: int, warmup: int) -> list[float]:
    """Seconds per frame of `frames` frames after `warmup` untimed ones (the first frames of a
    run are slower while buffers and caches settle)."""
    state, image, mask, orig = inputs
    times = []
    for i in range(warmup + frames):
        t0 = time.perf_counter()
        state, res = compiled(tracker.variables, state, image, mask, orig)
        jax.block_until_ready(res)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "dancetrack.py"))
    p.add_argument("--size", nargs=2, type=int, action="append", metavar=("H", "W"))
    p.add_argument("--frames", type=int, default=3, help="timed frames per size and round")
    p.add_argument("--warmup", type=int, default=3, help="untimed frames before each round's")
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="alternating rounds (default 2 with --official, else 1)",
    )
    p.add_argument("--impl", default="", help="ms_deform_attn implementation: '' | xla | pallas")
    p.add_argument("--max-tracks", type=int, default=None)
    p.add_argument(
        "--official", default=None, help="official SambaMOTR checkout to time beside ours"
    )
    p.add_argument(
        "--official-python",
        default=sys.executable,
        help="python of the environment with torch + torchvision for the official code",
    )
    p.add_argument(
        "--malloc-default",
        action="store_true",
        help="leave glibc malloc's settings alone (the entry scripts ask for huge pages and a top "
        "pad: sambamotr_jax/runtime/malloc_pad.py); the official code then runs with them alone "
        "too",
    )
    args = p.parse_args()
    if not args.malloc_default:
        malloc_pad.configure()  # may restart this script with glibc tunables, as the CLIs do
    before = side_by_side.load_report()
    sizes = args.size or [[256, 352], [800, 1440]]
    rounds = args.rounds or (2 if args.official else 1)
    config = load_config(args.config)
    config.model.ms_deform_attn_impl = args.impl
    if args.max_tracks is not None:
        config.tracker.max_tracks = args.max_tracks
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    tracker = api.Tracker(config, variables)
    compiled = {f"{h}x{w}": compile_size(tracker, h, w) for h, w in sizes}
    ours = {key: [] for key in compiled}  # per round, the frame times of that round
    official_runs = []
    for _ in range(rounds):  # ours, theirs, ours, theirs, ...
        for key, (fn, inputs, _) in compiled.items():
            ours[key].append(time_frames(tracker, fn, inputs, args.frames, args.warmup))
        if args.official:
            size_args = [str(x) for h, w in sizes for x in ("--size", h, w)]
            official_runs.append(
                side_by_side.run_official(
                    "time_official.py",
                    size_args,
                    args.official_python,
                    args.official,
                    "SAMBA_REF_DIR",
                )
            )
    state = side_by_side.machine_state(before, side_by_side.load_report())
    round_medians = {key: [side_by_side.median(t) for t in times] for key, times in ours.items()}
    result = {
        "machine": machine(),
        "jax": jax.__version__,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "load": state,
        "config": pathlib.Path(args.config).name,
        "track_capacity": tracker.capacity,
        "ours": [
            {
                "size": [h, w],
                "compile_s": round(compiled[f"{h}x{w}"][2], 2),
                "frame_s_per_round": [round(t, 4) for t in round_medians[f"{h}x{w}"]],
                "fastest_frame_s_per_round": [round(min(t), 4) for t in ours[f"{h}x{w}"]],
                "frames_s_per_round": [[round(x, 3) for x in t] for t in ours[f"{h}x{w}"]],
                "frame_s_median": round(side_by_side.median(round_medians[f"{h}x{w}"]), 4),
                "peak_memory_mb": round(peak_memory_mb(), 1),
            }
            for h, w in sizes
        ],
    }
    if args.official:
        result["official"] = official_runs
        ratios = {}
        for h, w in sizes:
            key = f"{h}x{w}"
            theirs = [r["forward_s"][key] for r in official_runs]
            per_round = [o / t for o, t in zip(round_medians[key], theirs)]
            fastest = [min(o) / t for o, t in zip(ours[key], theirs)]
            ratios[key] = {
                "per_round": [round(x, 3) for x in per_round],
                "median": side_by_side.marked(side_by_side.median(per_round), state["busy"]),
                "fastest_frame_per_round": [round(x, 3) for x in fastest],
            }
        result["ratio_ours_over_official"] = ratios
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
