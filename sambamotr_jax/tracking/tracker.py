"""The tracker object: frames in, `FrameTracks` out (public as `sambamotr_jax.api.Tracker`).

One jitted function runs each frame (compiled once per frame size and track capacity); the frame
loop (`online.frame_loop.CapacityLoop`, shared with the artifact runner `serve`) grows the
capacity exactly and overlaps host preprocessing with the device. `track_streams` tracks several
sequences at once through the same step batched over streams (`online.stream_loop`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Iterator

import jax
import numpy as np

from sambamotr_jax import model as model_lib
from sambamotr_jax.formats import frame_images, sequence_folder
from sambamotr_jax.online import frame_preprocess
from sambamotr_jax.online.frame_loop import CapacityLoop, FrameTracks, every_kth
from sambamotr_jax.online.stream_loop import StreamLoop
from sambamotr_jax.tracking import frame_step
from sambamotr_jax.tracking.track_state import empty_track_state, grow_track_state
from sambamotr_jax.weights import converted_checkpoint

__all__ = ["FrameTracks", "Tracker"]  # FrameTracks is defined in online.frame_loop


class Tracker:
    """The online tracker bound to a model config and variables."""

    def __init__(self, config, variables, *, return_detections: bool = False):
        self.config = config
        self.model = model_lib.build_model(config.model)
        self.variables = variables
        t = config.tracker
        self.params = frame_step.TrackerParams(
            det_score_thresh=float(t.det_score_thresh),
            track_score_thresh=float(t.track_score_thresh),
            result_score_thresh=float(t.result_score_thresh),
            miss_tolerance=int(t.miss_tolerance),
            area_thresh=float(t.area_thresh),
        )
        # No donation: a frame that overflows is redone from its input state.
        self._step = frame_step.make_frame_step(
            self.model,
            self.params,
            return_detections=return_detections,
            donate=False,
            compute_dtype=config.model.dtype,  # 'bfloat16': the detector; weights stay float32
        )
        self._loop = CapacityLoop(
            lambda state, *inputs: self._step(self.variables, state, *inputs),
            grow_track_state,
            capacity=int(t.max_tracks),
            max_capacity=int(t.max_tracks_limit),
        )
        batched_step = frame_step.make_frame_step(
            self.model,
            self.params,
            donate=False,
            compute_dtype=config.model.dtype,
            batched=True,
        )
        self._streams = StreamLoop(
            lambda states, *inputs: batched_step(self.variables, states, *inputs),
            grow_track_state,
            lambda capacity: empty_track_state(
                capacity, self.model.query_dim, self.model.updater_state_shapes()
            ),
            capacity=int(t.max_tracks),
            max_capacity=int(t.max_tracks_limit),
        )

    @property
    def capacity(self) -> int:
        """The current track capacity (grows from `tracker.max_tracks`; kept across sequences)."""
        return self._loop.capacity

    @property
    def state(self):
        """The track state after the last collected frame."""
        return self._loop.state

    @property
    def last_detections(self):
        """Detector outputs of the last collected frame (with `return_detections`; debugging)."""
        return (self._loop.last_results or {}).get("detections")

    @classmethod
    def from_checkpoint(cls, config, checkpoint_dir: str | pathlib.Path) -> Tracker:
        model = model_lib.build_model(config.model)
        template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
        variables = converted_checkpoint.load_variables(
            checkpoint_dir, config.model.to_dict(), template
        )
        return cls(config, variables)

    def new_state(self):
        return empty_track_state(
            self.capacity, self.model.query_dim, self.model.updater_state_shapes()
        )

    def track_frames(
        self, frames: Iterable[np.ndarray], *, interval: int = 1
    ) -> Iterator[FrameTracks]:
        """Tracks (H, W, 3) uint8 RGB frames given in order (already subsampled by `interval`:
        frame i of the iterable is frame i * interval of the sequence).

        The track capacity starts at `tracker.max_tracks` and doubles (up to
        `tracker.max_tracks_limit`) whenever a frame would drop a track: that frame is then run
        again from its saved input state with the larger capacity, so results are exact. Each
        capacity compiles once.
        """
        t = self.config.tracker
        inputs = (
            (i * interval, frame_preprocess.step_inputs(frame, t.short_side, t.max_size))
            for i, frame in enumerate(frames)
        )
        yield from self._loop.run(self.new_state(), inputs)

    def track_frame(self, state, frame: np.ndarray, *, index: int = 0):
        """Tracks one (H, W, 3) uint8 RGB frame at once (no overlap with reading the next one).

        Args:
          state: the track state after the previous frame (`new_state()` before the first).
          frame: the frame; `index` is its 0-based index, copied into the result.

        Returns:
          (the state after this frame, its FrameTracks): frame by frame the same results as
          `track_frames` (capacity growth included).
        """
        t = self.config.tracker
        inputs = frame_preprocess.step_inputs(frame, t.short_side, t.max_size)
        return self._loop.run_one(state, index, inputs)

    def track_paths(self, paths: list[pathlib.Path], *, interval: int = 1) -> Iterator[FrameTracks]:
        """Tracks frames read from files, every `interval`-th one, as the official SeqDataset."""
        selected = every_kth(paths, interval)
        return self.track_frames((frame_images.read_rgb(p) for p in selected), interval=interval)

    def track_sequence(
        self, seq_dir: str | pathlib.Path, *, interval: int = 1
    ) -> Iterator[FrameTracks]:
        return self.track_paths(sequence_folder.sequence_frames(seq_dir), interval=interval)

    def track_streams(
        self,
        sources: Iterable[str | os.PathLike | Iterable[np.ndarray]],
        *,
        streams: int,
        interval: int = 1,
    ) -> Iterator[tuple[int, FrameTracks]]:
        """Tracks several sequences at once, `streams` of them in one batched frame step.

        Args:
          sources: the sequences, read lazily (a source is opened when a stream frees): each a
            sequence folder or frames folder (its frames read as `track_sequence` reads them,
            every `interval`-th), or an iterable of (H, W, 3) uint8 RGB frames already
            subsampled (as `track_frames`: frame i is frame i * interval of the sequence).
          streams: B, the number of sequences tracked together (shapes: B is static).
          interval: the frame interval; `FrameTracks.index` is i * interval.

        Yields:
          (index of the source in `sources`, FrameTracks): each source's frames in order,
          exactly as `track_frames` gives them (its own ids from 0, capacity growth included),
          frames of different sources interleaved. Sequences of one input size (after the
          official resize) share a batch; one of another size waits until the batch drains
          (`online.stream_loop`), so group sources by frame size where they differ.
        """
        t = self.config.tracker

        def source_inputs(source):
            if isinstance(source, str | os.PathLike):
                paths = every_kth(sequence_folder.sequence_frames(source), interval)
                source = (frame_images.read_rgb(p) for p in paths)
            for i, frame in enumerate(source):
                yield i * interval, frame_preprocess.step_inputs(frame, t.short_side, t.max_size)

        return self._streams.run((source_inputs(s) for s in sources), streams)
