"""Evaluation throughput (frames/s) of tracking B sequences at once (`Tracker.track_streams`).

    python benchmarks/streams.py [--config configs/dancetrack.py] [--size 256 352]
        [--streams 1 2 4 8] [--sequences-per-stream 2] [--frames 8] [--max-tracks 32]

For each B: a warm-up run compiles the batched step (B streams, capacity `--max-tracks`), then
B * `--sequences-per-stream` sequences of `--frames` random frames each are tracked and timed,
host preprocessing included (as `eval.py --streams=B` runs). The one-sequence loop
(`track_frames`, `eval.py --streams=1`) is timed on the same sequences as the baseline. Weights
are randomly initialized: every shape is static (detection queries + the track capacity), so the
time does not depend on their values. The frames are the step's input size (the resize is set
to keep them). Prints the load average before and after, and one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.inference import load_config, machine  # noqa: E402
from sambamotr_jax import api  # noqa: E402
from sambamotr_jax import model as model_lib  # noqa: E402
from sambamotr_jax.runtime import malloc_pad  # noqa: E402


def random_sequences(count: int, frames: int, height: int, width: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        [rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8) for _ in range(frames)]
        for _ in range(count)
    ]


def time_streams(tracker, sequences, streams: int) -> dict:
    warm = [seq[:2] for seq in sequences[:streams]]
    t0 = time.perf_counter()
    for _ in tracker.track_streams(warm, streams=streams):
        pass
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = sum(1 for _ in tracker.track_streams(sequences, streams=streams))
    seconds = time.perf_counter() - t0
    return {
        "streams": streams,
        "sequences": len(sequences),
        "frames": n,
        "warmup_with_compile_s": round(warmup_s, 2),
        "seconds": round(seconds, 3),
        "frames_per_s": round(n / seconds, 3),
    }


def time_one_by_one(tracker, sequences) -> dict:
    t0 = time.perf_counter()
    for _ in tracker.track_frames(sequences[0][:2]):
        pass
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = sum(1 for seq in sequences for _ in tracker.track_frames(seq))
    seconds = time.perf_counter() - t0
    return {
        "loop": "track_frames",
        "sequences": len(sequences),
        "frames": n,
        "warmup_with_compile_s": round(warmup_s, 2),
        "seconds": round(seconds, 3),
        "frames_per_s": round(n / seconds, 3),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "dancetrack.py"))
    p.add_argument("--size", nargs=2, type=int, default=[256, 352], metavar=("H", "W"))
    p.add_argument("--streams", nargs="+", type=int, default=[1, 2, 4, 8])
    p.add_argument("--sequences-per-stream", type=int, default=2)
    p.add_argument("--frames", type=int, default=8, help="frames per sequence")
    p.add_argument("--max-tracks", type=int, default=None, help="track capacity K")
    args = p.parse_args()
    malloc_pad.configure()  # may restart this script with glibc tunables, as the CLIs do
    top_pad = os.environ.get("GLIBC_TUNABLES")
    load_before = os.getloadavg()
    print(f"load average before: {load_before}", flush=True)
    height, width = args.size
    config = load_config(args.config)
    config.tracker.short_side, config.tracker.max_size = min(height, width), max(height, width)
    if args.max_tracks is not None:
        config.tracker.max_tracks = args.max_tracks
    config.tracker.max_tracks_limit = config.tracker.max_tracks  # timings at one capacity
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    tracker = api.Tracker(config, variables)
    most = max(args.streams) * args.sequences_per_stream
    sequences = random_sequences(most, args.frames, height, width)
    result = {
        "machine": machine(),
        "jax": jax.__version__,
        "glibc_tunables": top_pad,
        "config": pathlib.Path(args.config).name,
        "size": [height, width],
        "track_capacity": tracker.capacity,
        "frames_per_sequence": args.frames,
        "one_by_one": time_one_by_one(tracker, sequences[: args.sequences_per_stream]),
        "streams": [
            time_streams(tracker, sequences[: b * args.sequences_per_stream], b)
            for b in args.streams
        ],
    }
    load_after = os.getloadavg()
    result["load_average_before_after"] = [load_before, load_after]
    print(f"load average after: {load_after}", flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
