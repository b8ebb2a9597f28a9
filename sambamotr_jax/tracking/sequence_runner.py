"""Tracking a sequence into MOT lines (library behind `track.py`, `eval.py` and the demo).

`mot_lines` (one frame's rows as the official Submitter writes them) lives in
`online.frame_loop`, shared with the artifact runner.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import tqdm
from flax import traverse_util

from sambamotr_jax.formats import mot_text, sequence_folder
from sambamotr_jax.formats.atomic_write import partial_path, write_partial, write_text_atomic
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.online.frame_loop import mot_lines
from sambamotr_jax.tracking.tracker import Tracker
from sambamotr_jax.weights import converted_checkpoint


def track_to_file(config, checkpoint: str, seq_dir: str, output: str, *, interval: int = 1):
    """Tracks `seq_dir` and writes `output` atomically; returns (frames tracked, lines written).

    A frame that cannot be read stops tracking: the lines of the frames tracked before it go to
    `<output>.partial` (`atomic_write.write_partial`), no `output` is left, and the InputError
    names the frame, the problem and the partial file.
    """
    frames = sequence_folder.sequence_frames(seq_dir)  # input checked before the model loads
    tracker = Tracker.from_checkpoint(config, checkpoint)
    n_tracked = len(frames) // interval
    lines: list[str] = []
    done = 0
    bar = tqdm.tqdm(
        tracker.track_paths(frames, interval=interval),
        total=n_tracked,
        desc=pathlib.Path(seq_dir).name,
        unit="frame",
    )
    try:
        for frame in bar:
            lines += mot_lines(frame)
            done += 1
    except InputError as err:
        bar.close()
        partial = write_partial(output, lines)
        raise InputError(
            f"{err}; tracking stopped at frame {done * interval + 1} of {seq_dir}: the "
            f"{len(lines)} lines of the {done} frames tracked before it are in {partial} "
            f"({output} not written)"
        ) from None
    write_text_atomic(output, lines)
    partial_path(output).unlink(missing_ok=True)
    return n_tracked, len(lines)


def make_track_fn(config, checkpoint_dir: str):
    """The tracker as eval_lib expects it: `track_fn(frame_paths, *, interval)` yielding
    (1-based frame number, [(id, x1, y1, w, h, score, label), ...]) in original pixels.

    `label` (0-based class the track was born with, official `TrackInstances.labels`) comes
    last, so readers of the first six fields (MOT results, drawing) see the rows they always saw.
    """
    tracker = Tracker.from_checkpoint(config, checkpoint_dir)

    def track_fn(frames: list[pathlib.Path], *, interval: int = 1) -> Iterator:
        for frame in tracker.track_paths(frames, interval=interval):
            rows = []
            for tid, score, label, (x1, y1, x2, y2) in zip(
                frame.ids.tolist(),
                frame.scores.tolist(),
                frame.labels.tolist(),
                frame.boxes_xyxy.tolist(),
            ):
                rows.append((tid, *mot_text.mot_box_from_xyxy(x1, y1, x2, y2), score, label))
            yield frame.index + 1, rows

    return track_fn


def config_from_checkpoint(base_config, checkpoint_dir: str):
    """`base_config` (a full experiment config) with `model` taken from the checkpoint's
    model.json, for running a checkpoint without its experiment file."""
    config = base_config.copy_and_resolve_references()
    saved = converted_checkpoint.load_model_config(checkpoint_dir)
    config.model.update_from_flattened_dict(traverse_util.flatten_dict(saved, sep="."))
    return config
