"""bfloat16 inference (`--config.model.dtype=bfloat16`) beside float32 on the official fixtures,
CPU: box deviation of matched ids, whether the ids stay the same, and per-frame time.

    python benchmarks/bfloat16_inference.py [--passes 3]

(`SAMBAMOTR_SHARED` overrides where ../shared is, as for the tests.)

Per fixture (SambaMOTR and MeMOTR, converted official weights, four 512x704 frames tracked at
256x352 as the parity tests) the tracker runs in float32 and in bfloat16 (the detector in
bfloat16; query updater, track state and results float32) at a fixed capacity of 32. Deviation:
|bfloat16 - float32| of the x1y1x2y2 result boxes in original pixels (and of their scores), over
the ids both runs report in a frame; the ids each run reports, per frame. Time: the frames tracked `--passes` times in a row, median over all frames
but the first (compilation). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from configs import dancetrack, memotr_dancetrack
from sambamotr_jax import api
from sambamotr_jax.runtime import malloc_pad
from sambamotr_jax.weights import conversion, torch_state
from tests import official_fixture

FIXTURES = {"official_def_detr": dancetrack, "official_memotr_dab_detr": memotr_dancetrack}


def track(config, variables, frames, passes: int):
    """(the first pass's FrameTracks, first frame seconds, later frames' seconds)."""
    tracker = api.Tracker(config, variables)
    results, times = [], []
    for _ in range(passes):
        t0 = time.perf_counter()
        for frame in tracker.track_frames(frames):
            t1 = time.perf_counter()
            times.append(t1 - t0)
            t0 = t1
            if len(results) < len(frames):
                results.append(frame)
    return results, times[0], times[1:]


def compare(reference, other) -> dict:
    """Box (px) and score deviation over the ids both runs report in a frame; the ids each
    run reports per frame."""
    boxes, scores, frame_max, ids = [], [], [], []
    for a, b in zip(reference, other):
        ids.append([a.ids.tolist(), b.ids.tolist()])
        row_b = {i: r for r, i in enumerate(b.ids.tolist())}
        pairs = [(r, row_b[i]) for r, i in enumerate(a.ids.tolist()) if i in row_b]
        ra, rb = [p[0] for p in pairs], [p[1] for p in pairs]
        dev = np.abs(a.boxes_xyxy[ra] - b.boxes_xyxy[rb])  # (matched, 4)
        boxes.append(dev.ravel())
        scores.append(np.abs(a.scores[ra] - b.scores[rb]))
        frame_max.append(float(dev.max(initial=0.0)))
    boxes, scores = np.concatenate(boxes), np.concatenate(scores)
    return {
        "frames": [len(reference), len(other)],
        "ids_identical": len(reference) == len(other) and all(a == b for a, b in ids),
        "matched_boxes": int(boxes.size // 4),
        "max_px": float(boxes.max()),
        "mean_px": float(boxes.mean()),
        "max_px_per_frame": frame_max,
        "max_score_diff": float(scores.max()),
        "ids_per_frame": ids,
    }


def main():
    parser = argparse.ArgumentParser()
    shared = pathlib.Path(os.environ.get("SAMBAMOTR_SHARED", ROOT.parent / "shared"))
    parser.add_argument("--shared", default=str(shared))
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    malloc_pad.configure()  # may restart this script with glibc tunables, as the CLIs do
    out = {"passes": args.passes}
    for name, module in FIXTURES.items():
        root = pathlib.Path(args.shared) / "fixtures" / name
        meta = json.loads((root / "meta.json").read_text())
        config = official_fixture.tracker_config(module, meta)
        config.tracker.max_tracks = config.tracker.max_tracks_limit = 32
        variables, _, _ = conversion.convert_state(
            torch_state.load_torch_checkpoint(root / "weights.pth"), config
        )
        frames = list(np.load(root / "inputs.npz")["frames_uint8"])
        runs = {}
        for dtype in ("float32", "bfloat16"):
            config.model.dtype = dtype
            results, first, rest = track(config, variables, frames, args.passes)
            runs[dtype] = results
            out.setdefault(name, {})[dtype] = {
                "first_frame_s": first,
                "per_frame_median_s": statistics.median(rest),
                "per_frame_min_s": min(rest),
            }
        out[name]["bfloat16_vs_float32"] = compare(runs["float32"], runs["bfloat16"])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
