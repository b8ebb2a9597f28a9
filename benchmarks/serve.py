"""The exported artifact (`sambamotr_jax.serve`) beside the in-process tracker, CPU: artifact
size, load time, first-frame time (compilation) and per-frame time.

    python benchmarks/serve.py [--fixture ../shared/fixtures/official_def_detr] [--passes 3]

(`SAMBAMOTR_SHARED` overrides where ../shared is, as for the tests.)

Uses an official fixture's weights and its four 512x704 frames (256x352 input, as the parity
tests), tracked `--passes` times in a row at a fixed capacity of 32 (one compiled step each);
the per-frame time is the median over the passes after the first frame. Load time: the in-process
tracker restores a converted checkpoint (Orbax), serve reads the artifact (zip + npz) and puts
the weights on the device. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from configs import dancetrack, memotr_dancetrack
from sambamotr_jax import api, serve
from sambamotr_jax.runtime import malloc_pad
from sambamotr_jax.tracking import step_export
from sambamotr_jax.weights import conversion, converted_checkpoint, torch_state
from tests import official_fixture


def timed_run(tracker, frames, passes: int) -> tuple[float, list[float]]:
    """(first frame seconds, later frames' seconds) over `passes` runs of `frames`."""
    times = []
    for _ in range(passes):
        t0 = time.perf_counter()
        for _frame in tracker.track_frames(frames):
            t1 = time.perf_counter()
            times.append(t1 - t0)
            t0 = t1
    return times[0], times[1:]


def main():
    parser = argparse.ArgumentParser()
    shared = pathlib.Path(os.environ.get("SAMBAMOTR_SHARED", ROOT.parent / "shared"))
    parser.add_argument("--fixture", default=str(shared / "fixtures/official_def_detr"))
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    malloc_pad.configure()  # may restart this script with glibc tunables, as the CLIs do
    root = pathlib.Path(args.fixture)
    meta = json.loads((root / "meta.json").read_text())
    module = memotr_dancetrack if "memotr" in root.name else dancetrack
    config = official_fixture.tracker_config(module, meta)
    config.tracker.max_tracks = config.tracker.max_tracks_limit = 32
    variables, _, _ = conversion.convert_state(
        torch_state.load_torch_checkpoint(root / "weights.pth"), config
    )
    frames = list(np.load(root / "inputs.npz")["frames_uint8"])
    out = {"fixture": root.name, "backend": jax.default_backend(), "passes": args.passes}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = converted_checkpoint.save_variables(
            pathlib.Path(tmp) / "ckpt", variables, config.model.to_dict()
        )
        artifact = pathlib.Path(tmp) / "tracker.zip"
        t0 = time.perf_counter()
        step_export.export_tracker(config, variables, [frames[0].shape[:2]], artifact)
        out["export_s"] = time.perf_counter() - t0
        out["artifact_mib"] = os.path.getsize(artifact) / 2**20
        out["checkpoint_mib"] = (
            sum(f.stat().st_size for f in ckpt.rglob("*") if f.is_file()) / 2**20
        )

        for name, load in (
            ("in_process", lambda: api.Tracker.from_checkpoint(config, ckpt)),
            ("serve", lambda: serve.ArtifactTracker(artifact)),
        ):
            t0 = time.perf_counter()
            tracker = load()
            jax.block_until_ready(getattr(tracker, "weights", None) or tracker.variables)
            load_s = time.perf_counter() - t0
            first, rest = timed_run(tracker, frames, args.passes)
            out[name] = {
                "load_s": load_s,
                "first_frame_s": first,
                "per_frame_median_s": statistics.median(rest),
                "per_frame_min_s": min(rest),
            }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
