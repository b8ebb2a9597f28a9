"""Synthetic MOT dataset: look-alike objects that move, cross and occlude each other.

    python -m data_pipeline.synthetic_mot --out DIR [--seed 0] [--num-classes 1]

writes DIR/SyntheticMOT/{train,val}/<seq>/{img1/<frame:08d>.jpg, gt/gt.txt, seqinfo.ini} and
DIR/SyntheticMOT/{train,val}_seqmap.txt: the DanceTrack layout, read by the same builder as the
real datasets (`load_split("synthetic", DIR, "train")`).

All objects of a class look the same (as dancers in DanceTrack), so telling them apart after a
crossing needs their motion. Each object is a filled rectangle with a darker "head" band, drawn
back to front in a fixed depth order, so nearer objects occlude farther ones; boxes are the full
object extent (occluded parts included), integer pixels, always inside the frame (objects bounce
off the borders). gt lines: frame,id,x,y,w,h,1,class,1 with class = 1..num_classes (column 8).
Multi-class objects differ in colour and aspect ratio. Everything is deterministic from the seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import cv2
import numpy as np

from sambamotr_jax.formats.sequence_folder import SeqInfo, write_seqinfo
from sambamotr_jax.runtime import cli

# Per-class body colour (RGB) and height/width ratio.
_CLASS_COLOURS = ((200, 200, 210), (220, 160, 60), (70, 170, 90), (90, 120, 220), (200, 80, 160))
_CLASS_ASPECT = (2.0, 1.0, 0.6, 1.5, 0.8)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    width: int = 128  # frame width in pixels
    height: int = 96  # frame height in pixels
    num_frames: int = 64  # frames per sequence
    splits: tuple[tuple[str, int], ...] = (("train", 4), ("val", 2))  # (split, sequences)
    min_objects: int = 3
    max_objects: int = 6
    num_classes: int = 1
    object_height: tuple[int, int] = (18, 30)  # range of object heights in pixels
    speed: tuple[float, float] = (0.6, 2.0)  # pixels per frame
    frame_rate: int = 20
    jpeg_quality: int = 90
    seed: int = 0


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A static textured background (H, W, 3) uint8: a gradient plus smooth noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 60 + 40 * (xx / w) + 20 * (yy / h)
    noise = cv2.GaussianBlur(rng.normal(0, 12, (h, w)).astype(np.float32), (0, 0), 2.0)
    bg = np.stack([base + noise, base * 0.9 + noise, base * 0.8 + noise], axis=-1)
    return np.clip(bg, 0, 255).astype(np.uint8)


def simulate_sequence(
    cfg: SyntheticConfig, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[tuple[int, int, int, int, int, int, int]]]:
    """Renders one sequence. Returns frames (H, W, 3) RGB uint8 and gt rows
    (frame, id, x, y, w, h, class) with 1-based frames and ids."""
    h_img, w_img = cfg.height, cfg.width
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    cls = rng.integers(0, cfg.num_classes, n)
    oh = rng.integers(cfg.object_height[0], cfg.object_height[1] + 1, n).astype(np.float64)
    aspect = np.array([_CLASS_ASPECT[c % len(_CLASS_ASPECT)] for c in cls])
    ow = np.maximum(np.round(oh / aspect), 4)
    oh = np.minimum(oh, h_img - 2)
    ow = np.minimum(ow, w_img - 2)
    pos = np.stack([rng.uniform(0, w_img - ow), rng.uniform(0, h_img - oh)], axis=1)  # (n, 2)
    angle = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(cfg.speed[0], cfg.speed[1], n)
    vel = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]  # (n, 2)
    depth = rng.permutation(n)  # draw order: later = nearer
    bg = _background(rng, h_img, w_img)
    frames, rows = [], []
    for t in range(1, cfg.num_frames + 1):
        img = bg.copy()
        boxes = np.round(np.concatenate([pos, np.stack([ow, oh], 1)], 1)).astype(int)  # (n, 4)
        for k in depth:
            x, y, bw, bh = boxes[k]
            colour = _CLASS_COLOURS[cls[k] % len(_CLASS_COLOURS)]
            img[y : y + bh, x : x + bw] = colour
            head = max(bh // 4, 1)
            img[y : y + head, x : x + bw] = tuple(int(c * 0.55) for c in colour)
        for k in range(n):
            x, y, bw, bh = boxes[k]
            rows.append((t, k + 1, int(x), int(y), int(bw), int(bh), int(cls[k]) + 1))
        frames.append(img)
        # Smooth random turns, bounce off the borders.
        turn = rng.normal(0, 0.15, n)
        c, s = np.cos(turn), np.sin(turn)
        vel = np.stack([c * vel[:, 0] - s * vel[:, 1], s * vel[:, 0] + c * vel[:, 1]], 1)
        pos = pos + vel
        for d, size, limit in ((0, ow, w_img), (1, oh, h_img)):
            low, high = pos[:, d] < 0, pos[:, d] > limit - size
            vel[low | high, d] *= -1
            pos[:, d] = np.clip(pos[:, d], 0, limit - size)
    return frames, rows


def write_dataset(out: str, cfg: SyntheticConfig | None = None) -> str:
    """Writes the dataset under out/SyntheticMOT and returns that folder."""
    cfg = cfg or SyntheticConfig()
    base = os.path.join(out, "SyntheticMOT")
    seq_counter = 0
    for split, num_seqs in cfg.splits:
        names = []
        for _ in range(num_seqs):
            seq_counter += 1
            name = f"synth{seq_counter:04d}"
            names.append(name)
            rng = np.random.default_rng([cfg.seed, seq_counter])
            frames, rows = simulate_sequence(cfg, rng)
            seq_dir = os.path.join(base, split, name)
            os.makedirs(os.path.join(seq_dir, "img1"), exist_ok=True)
            os.makedirs(os.path.join(seq_dir, "gt"), exist_ok=True)
            for t, img in enumerate(frames, start=1):
                cv2.imwrite(
                    os.path.join(seq_dir, "img1", f"{t:08d}.jpg"),
                    img[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality],
                )
            with open(os.path.join(seq_dir, "gt", "gt.txt"), "w") as f:
                for t, i, x, y, w, h, c in rows:
                    f.write(f"{t},{i},{x},{y},{w},{h},1,{c},1\n")
            write_seqinfo(
                seq_dir,
                SeqInfo(
                    name=name,
                    seq_length=cfg.num_frames,
                    frame_rate=cfg.frame_rate,
                    im_width=cfg.width,
                    im_height=cfg.height,
                    im_ext=".jpg",
                ),
            )
        with open(os.path.join(base, f"{split}_seqmap.txt"), "w") as f:
            f.write("name\n" + "".join(f"{n}\n" for n in names))
    return base


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder to write SyntheticMOT/ into")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-classes", type=int, default=1, help="classes, written to gt column 8")
    p.add_argument("--width", type=int, default=SyntheticConfig.width)
    p.add_argument("--height", type=int, default=SyntheticConfig.height)
    p.add_argument("--num-frames", type=int, default=SyntheticConfig.num_frames)
    p.add_argument("--train-seqs", type=int, default=4)
    p.add_argument("--val-seqs", type=int, default=2)
    a = p.parse_args(argv)
    cfg = SyntheticConfig(
        width=a.width,
        height=a.height,
        num_frames=a.num_frames,
        splits=(("train", a.train_seqs), ("val", a.val_seqs)),
        num_classes=a.num_classes,
        seed=a.seed,
    )
    print(write_dataset(a.out, cfg))


if __name__ == "__main__":
    cli.run(lambda argv: main(argv[1:]), prog="python -m data_pipeline.synthetic_mot")
