"""Clip sampling as the official datasets do it (SambaMOTR/MeMOTR data/*.py).

Per epoch, a stage picks the clip length, mode and maximum interval: stage = number of
SAMPLE_STEPS entries <= epoch, and each list is indexed with min(stage, len(list) - 1). Every
begin frame of every sequence is one training clip of that epoch:

  * DanceTrack/SportsMOT/BFT/MOT17/synthetic: t in [t_min, t_max - (L - 1)] where t_min/t_max
    are the first and last frame with at least one object.
  * BDD100K: additionally every frame t .. t + L - 1 must have objects; when a drawn interval
    reaches a frame without objects, the clip falls back to consecutive frames.
  * CrowdHuman (MOT17 joint training): one entry per image; the clip repeats it L times with
    interval 1. MOT17 clips join from epoch SAMPLE_MOT17_JOIN on.

"random_interval" (the only official mode): interval = min(randint(1, I), floor((t_max - t) /
(L - 1))), frames t, t + interval, ..., t + (L - 1) * interval, all from one sequence.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from data_pipeline.builders import SequenceIndex


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Official SAMPLE_* settings. Defaults: SambaMOTR DanceTrack/SportsMOT/BFT def_detr."""

    sample_steps: tuple[int, ...] = ()  # SAMPLE_STEPS: epochs where the next stage starts
    sample_lengths: tuple[int, ...] = (10,)  # SAMPLE_LENGTHS: frames per clip, per stage
    sample_modes: tuple[str, ...] = ("random_interval",)  # SAMPLE_MODES
    sample_intervals: tuple[int, ...] = (10,)  # SAMPLE_INTERVALS: max frame interval, per stage
    use_crowdhuman: bool = False  # USE_CROWDHUMAN: add CrowdHuman pseudo-clips (MOT17 only)
    crowdhuman_split: str = "val"  # the official MOT17 recipe uses CrowdHuman val
    mot17_join_epoch: int = 0  # SAMPLE_MOT17_JOIN: first epoch with MOT17 clips


@dataclasses.dataclass(frozen=True)
class Stage:
    length: int
    mode: str
    interval: int


def stage_for_epoch(cfg: SamplerConfig, epoch: int) -> Stage:
    stage = sum(1 for step in cfg.sample_steps if epoch >= step)

    def pick(values):
        return values[min(len(values) - 1, stage)]

    return Stage(pick(cfg.sample_lengths), pick(cfg.sample_modes), pick(cfg.sample_intervals))


# Kinds of sources: how begin frames and clips are drawn.
VIDEO, VIDEO_DENSE, STATIC = "video", "video_dense", "static"


def source_kind(dataset_name: str) -> str:
    return {"bdd100k": VIDEO_DENSE, "crowdhuman": STATIC}.get(dataset_name, VIDEO)


def begin_frames(sequences: list[SequenceIndex], kind: str, length: int) -> np.ndarray:
    """All clip starts of one source for a clip length: (N, 2) int64 rows (sequence, frame)."""
    rows = []
    for s, seq in enumerate(sequences):
        annotated = seq.annotated_frames
        if kind == STATIC:
            rows.append(np.array([[s, seq.first_frame]]))
            continue
        if len(annotated) == 0:
            continue
        t = np.arange(annotated[0], annotated[-1] - (length - 1) + 1)
        if kind == VIDEO_DENSE:
            has = np.zeros(seq.first_frame + seq.num_frames + length + 1, bool)
            has[annotated] = True
            ok = np.ones(len(t), bool)
            for k in range(length):
                ok &= has[t + k]
            t = t[ok]
        rows.append(np.stack([np.full(len(t), s), t], axis=1))
    if not rows:
        return np.zeros((0, 2), np.int64)
    return np.concatenate(rows).astype(np.int64)


def clip_frames(
    seq: SequenceIndex, kind: str, begin: int, stage: Stage, rng: np.random.Generator
) -> tuple[list[int], int]:
    """Frame numbers of one clip and its interval (official `sample_frames_idx`)."""
    if kind == STATIC:
        return [begin] * stage.length, 1
    if stage.mode != "random_interval":
        raise ValueError(f"sample mode {stage.mode!r} is not supported (only 'random_interval')")
    if stage.length < 2:
        raise ValueError(f"sample length {stage.length} < 2 (the official code asserts > 1)")
    t_max = int(seq.annotated_frames[-1])
    max_interval = math.floor((t_max - begin) / (stage.length - 1))
    interval = min(int(rng.integers(1, stage.interval + 1)), max_interval)
    frames = [begin + interval * i for i in range(stage.length)]
    if kind == VIDEO_DENSE:
        counts = seq.num_objects
        if any(counts[f - seq.first_frame] == 0 for f in frames):
            return [begin + i for i in range(stage.length)], 1
    return frames, interval
