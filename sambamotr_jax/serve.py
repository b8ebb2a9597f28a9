"""Track with an exported artifact alone: no model code, no Flax (JAX, NumPy, OpenCV).

    python -m sambamotr_jax.serve --artifact=tracker.zip \
        --input=DanceTrack/val/dancetrack0004 --output=dancetrack0004.txt

`--input` is a sequence folder (`img1/` inside) or a folder of frames (.jpg/.png); the output is
the MOT result file the in-process tracker (`python -m sambamotr_jax.track`) writes for the same
frames. The artifact (`python -m sambamotr_jax.export`) fixes the frame sizes and the tracker
settings; a frame of another size stops with one line naming the sizes it has.

In Python:

    from sambamotr_jax.serve import ArtifactTracker
    tracker = ArtifactTracker("tracker.zip")
    for frame in tracker.track_sequence("DanceTrack/val/dancetrack0004"):
        print(frame.index, frame.ids, frame.boxes_xyxy)

This module imports jax, numpy, `formats` and `online` only (checked by import-linter and by
tests/test_export_serve.py, which runs it with flax, the model's packages and the rest blocked).
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Iterable, Iterator

import jax
import numpy as np
from absl import flags

from sambamotr_jax.formats import frame_images, sequence_folder, tracker_artifact
from sambamotr_jax.formats.atomic_write import write_text_atomic
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.online import frame_preprocess
from sambamotr_jax.online.frame_loop import (
    CapacityLoop,
    FrameTracks,
    every_kth,
    grow_slots,
    mot_lines,
)
from sambamotr_jax.runtime import cli, malloc_pad


class ArtifactTracker:
    """The online tracker of an exported artifact (`formats.tracker_artifact`)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        artifact = tracker_artifact.read_artifact(path)
        self.manifest = m = artifact.manifest
        self.settings = m["tracker"]
        norm = m["normalization"]
        if (
            tuple(norm["mean"]) != frame_images.IMAGENET_MEAN
            or tuple(norm["std"]) != frame_images.IMAGENET_STD
            or norm["size_divisibility"] != frame_preprocess.SIZE_DIVISIBILITY
        ):
            raise InputError(f"{self.path}: normalization {norm} differs from this runner's")
        self._serialized = artifact.steps
        self._steps: dict[tuple[int, int, int], object] = {}
        self.weights = jax.device_put(artifact.weights)
        self._state_spec = m["state"]
        self._fills = {s["name"]: s["fill"] for s in self._state_spec}
        self._loop = CapacityLoop(
            self._run_step,
            lambda state, k: grow_slots(state, k, self._fills),
            capacity=int(self.settings["max_tracks"]),
            max_capacity=int(self.settings["max_tracks_limit"]),
        )

    @property
    def capacity(self) -> int:
        return self._loop.capacity

    @property
    def state(self) -> dict:
        return self._loop.state

    def new_state(self) -> dict:
        """An all-padding track state at the current capacity ({name: array})."""
        k = self.capacity
        return {
            s["name"]: np.full(
                (k, *s["slot_shape"]) if s["per_slot"] else (), s["fill"], np.dtype(s["dtype"])
            )
            for s in self._state_spec
        }

    def _step_for(self, hp: int, wp: int, k: int):
        key = (hp, wp, k)
        if key not in self._steps:
            if key not in self._serialized:
                raise InputError(
                    f"{self.path}: no exported step for input {hp}x{wp} at capacity {k}"
                )
            exported = jax.export.deserialize(bytearray(self._serialized[key]))
            self._steps[key] = jax.jit(exported.call)
        return self._steps[key]

    def _run_step(self, state, image, pad_mask, orig_hw):
        step = self._step_for(image.shape[1], image.shape[2], state["live"].shape[0])
        return step(self.weights, state, image, pad_mask, orig_hw)

    def _inputs(self, frame: np.ndarray) -> tuple:
        s = self.settings
        hp, wp = frame_preprocess.input_size(*frame.shape[:2], s["short_side"], s["max_size"])
        if (hp, wp, self.capacity) not in self._serialized:
            have = ", ".join(
                f"{f['frame'][0]}x{f['frame'][1]} (input {f['input'][0]}x{f['input'][1]})"
                for f in self.manifest["frame_sizes"]
            )
            raise InputError(
                f"a {frame.shape[0]}x{frame.shape[1]} frame (input {hp}x{wp} after resize and "
                f"padding) is not in {self.path}: it was exported for frames {have}; export it "
                f"with --frame_size={frame.shape[0]},{frame.shape[1]}"
            )
        return frame_preprocess.step_inputs(frame, s["short_side"], s["max_size"])

    def track_frames(
        self, frames: Iterable[np.ndarray], *, interval: int = 1
    ) -> Iterator[FrameTracks]:
        """Tracks (H, W, 3) uint8 RGB frames given in order, as `api.Tracker.track_frames`."""
        inputs = ((i * interval, self._inputs(frame)) for i, frame in enumerate(frames))
        yield from self._loop.run(self.new_state(), inputs)

    def track_paths(self, paths: list[pathlib.Path], *, interval: int = 1) -> Iterator[FrameTracks]:
        selected = every_kth(paths, interval)
        return self.track_frames((frame_images.read_rgb(p) for p in selected), interval=interval)

    def track_sequence(
        self, seq_dir: str | os.PathLike, *, interval: int = 1
    ) -> Iterator[FrameTracks]:
        return self.track_paths(sequence_folder.sequence_frames(seq_dir), interval=interval)


def _define_flags() -> dict:
    """The CLI's flags, defined when it runs (importing the class defines none)."""
    return {
        "artifact": flags.DEFINE_string(
            "artifact", None, "Artifact file from sambamotr_jax.export."
        ),
        "input": flags.DEFINE_string("input", None, "Sequence folder (img1/) or frames folder."),
        "output": flags.DEFINE_string("output", None, "MOT-format result file to write."),
        "interval": flags.DEFINE_integer("interval", 1, "Track every k-th frame (EVAL_INTERVAL)."),
    }


def serve_to_file(artifact: str, input_dir: str, output: str, *, interval: int = 1):
    """Tracks `input_dir` with `artifact` and writes `output`; returns (frames, lines)."""
    frames = sequence_folder.sequence_frames(input_dir)  # input checked before loading
    tracker = ArtifactTracker(artifact)
    lines: list[str] = []
    n = 0
    for frame in tracker.track_paths(frames, interval=interval):
        lines += mot_lines(frame)
        n += 1
    write_text_atomic(output, lines)
    return n, len(lines)


def main(argv, flag_values):
    del argv
    f = {name: flag.value for name, flag in flag_values.items()}
    for name in ("artifact", "input", "output"):
        if f[name] is None:
            raise InputError(f"--{name} is required")
    malloc_pad.configure()  # huge pages and a top pad for XLA:CPU's buffers (may restart)
    t0 = time.perf_counter()
    n, n_lines = serve_to_file(f["artifact"], f["input"], f["output"], interval=f["interval"])
    dt = time.perf_counter() - t0
    print(f"wrote {n_lines} lines for {n} frames to {f['output']} ({n / dt:.2f} FPS)")


def run():
    """Console-script entry point (`sambamotr-serve`)."""
    flag_values = _define_flags()
    cli.run_absl(lambda a: main(a, flag_values), module="sambamotr_jax.serve", doc=__doc__)


if __name__ == "__main__":
    run()
