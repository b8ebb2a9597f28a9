"""Training input throughput at DanceTrack resolution: clips per second.

    python benchmarks/data_pipeline.py [--workers 2] [--batches 24] [--length 10] [--out DIR]

Writes (once) a synthetic MOT dataset of 1920x1080 JPEG frames (textured background so the
files are about as large as real DanceTrack frames, ~220 KB), prepares its ArrayRecord files, then times
the official training pipeline: SambaMOTR DanceTrack settings (clips of 10 frames, interval up
to 10, official augmentation, default pad buckets), batch of 1 clip, `--workers` grain worker
processes. Prints one line of JSON with clips/s and frames/s, after a warm-up of 2 batches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# data_pipeline package: put the repository root there instead.
if __package__ in (None, ""):
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import data_pipeline as dp  # noqa: E402
from data_pipeline import synthetic_mot  # noqa: E402


def write_dancetrack_like(root: str, num_frames: int, seqs: int) -> None:
    """Synthetic sequences at 1920x1080 with a noisy background (real-photo-like JPEG size)."""
    base = os.path.join(root, "SyntheticMOT")
    if os.path.isfile(os.path.join(base, "train_seqmap.txt")):
        return
    cfg = synthetic_mot.SyntheticConfig(
        width=1920,
        height=1080,
        num_frames=num_frames,
        splits=(("train", seqs),),
        min_objects=8,
        max_objects=12,
        object_height=(200, 400),
        speed=(5.0, 25.0),
        jpeg_quality=95,
    )
    synthetic_mot.write_dataset(root, cfg)
    # Replace the smooth synthetic background by fine texture: JPEG size ~ a real frame's.
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 64, (1080, 1920, 3), dtype=np.uint8), (0, 0), 2.0)
    for seq in sorted(os.listdir(os.path.join(base, "train"))):
        img_dir = os.path.join(base, "train", seq, "img1")
        for name in sorted(os.listdir(img_dir)):
            path = os.path.join(img_dir, name)
            img = cv2.imread(path)
            cv2.imwrite(path, cv2.add(img, texture), [cv2.IMWRITE_JPEG_QUALITY, 90])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batches", type=int, default=24)
    p.add_argument("--length", type=int, default=10, help="frames per clip (SAMPLE_LENGTHS)")
    p.add_argument("--image-dtype", default="float32", choices=("float32", "uint8"))
    p.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "sambamotr_bench_data"))
    a = p.parse_args()

    write_dancetrack_like(a.out, num_frames=60, seqs=2)
    frame_bytes = os.path.getsize(
        os.path.join(a.out, "SyntheticMOT", "train", "synth0001", "img1", "00000001.jpg")
    )
    dp.load_split("synthetic", a.out, "train")  # prepare records outside the timing
    sampler = dp.SamplerConfig(sample_lengths=(a.length,), sample_intervals=(10,))
    it = dp.build_train_iterator(
        "synthetic",
        a.out,
        sampler=sampler,
        augment=dp.AugmentConfig(),
        pad=dp.PadConfig(image_dtype=a.image_dtype),
        batch_size=1,
        seed=0,
        num_workers=a.workers,
        num_epochs=20,
    )
    for _ in range(2):
        next(it)
    start = time.perf_counter()
    pixels = 0
    for _ in range(a.batches):
        batch = next(it)
        pixels += batch["images"][0, 0].size // 3
    elapsed = time.perf_counter() - start
    clips_per_s = a.batches / elapsed
    print(
        json.dumps(
            {
                "benchmark": "data_pipeline",
                "workers": a.workers,
                "image_dtype": a.image_dtype,
                "cpu_count": os.cpu_count(),
                "clip_length": a.length,
                "frame": "1920x1080 jpeg",
                "jpeg_bytes": frame_bytes,
                "batches": a.batches,
                "clips_per_s": round(clips_per_s, 3),
                "frames_per_s": round(clips_per_s * a.length, 2),
                "mean_padded_pixels": int(pixels / a.batches),
            }
        )
    )


if __name__ == "__main__":
    main()
