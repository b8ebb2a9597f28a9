"""Per-frame latency of the jitted tracking step, compile time and peak memory.

    python benchmarks/inference.py --size 256 352 --size 800 1440 [--config configs/dancetrack.py]
        [--frames 5] [--impl xla] [--official SAMBA_REF_DIR --official-python REFVENV/bin/python]

Weights are randomly initialized: every shape is static (300 detection queries + the track
capacity), so the time does not depend on their values. `--official DIR` also times the official
PyTorch forward in the same run with ../shared/tools/official_cpu_timing/time_official.py (needs
torch, torchvision and the official code, see that folder's README) and prints the ratio.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def time_size(tracker, height: int, width: int, frames: int) -> dict:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, height, width, 3)).astype(np.float32)
    mask = np.zeros((1, height, width), bool)
    orig = np.array([height, width], np.float32)
    state = tracker.new_state()
    t0 = time.perf_counter()
    compiled = tracker._step.lower(tracker.variables, state, image, mask, orig).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(frames + 1):
        t0 = time.perf_counter()
        state, res = compiled(tracker.variables, state, image, mask, orig)
        jax.block_until_ready(res)
        times.append(time.perf_counter() - t0)
    times = times[1:]  # first call warms caches
    return {
        "size": [height, width],
        "compile_s": round(compile_s, 2),
        "frame_s_median": round(statistics.median(times), 4),
        "frame_s_min": round(min(times), 4),
        "frames_timed": len(times),
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }


def official(ref_dir: str, sizes, python: str) -> dict:
    tool = ROOT.parent / "shared" / "tools" / "official_cpu_timing" / "time_official.py"
    cmd = [python, str(tool)]
    for h, w in sizes:
        cmd += ["--size", str(h), str(w)]
    env = dict(os.environ, SAMBA_REF_DIR=ref_dir)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout[out.stdout.index("{") :])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "dancetrack.py"))
    p.add_argument("--size", nargs=2, type=int, action="append", metavar=("H", "W"))
    p.add_argument("--frames", type=int, default=3)
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
        help="leave glibc malloc's settings alone (the entry scripts set a top pad: "
        "sambamotr_jax/runtime/malloc_pad.py)",
    )
    args = p.parse_args()
    top_pad = not args.malloc_default and malloc_pad.keep_freed_memory()
    sizes = args.size or [[256, 352], [800, 1440]]
    config = load_config(args.config)
    config.model.ms_deform_attn_impl = args.impl
    if args.max_tracks is not None:
        config.tracker.max_tracks = args.max_tracks
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    tracker = api.Tracker(config, variables)
    result = {
        "machine": machine(),
        "jax": jax.__version__,
        "malloc_top_pad": top_pad,
        "config": pathlib.Path(args.config).name,
        "track_capacity": tracker.capacity,
        "ours": [time_size(tracker, h, w, args.frames) for h, w in sizes],
    }
    if args.official:
        result["official"] = official(args.official, sizes, args.official_python)
        result["ratio_ours_over_official"] = {
            f"{h}x{w}": round(o["frame_s_median"] / result["official"]["forward_s"][f"{h}x{w}"], 3)
            for (h, w), o in zip(sizes, result["ours"])
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
