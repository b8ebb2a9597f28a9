"""The tracker object: frames in, `FrameTracks` out (public as `sambamotr_jax.api.Tracker`).

One jitted function runs each frame (compiled once per frame size); while the device works on
frame t the host reads and preprocesses frame t+1, and it fetches only the per-track result rows.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from collections.abc import Iterable, Iterator

import jax
import numpy as np

from sambamotr_jax import model as model_lib
from sambamotr_jax.formats import frame_images, sequence_folder
from sambamotr_jax.tracking import frame_preprocess, frame_step
from sambamotr_jax.tracking.track_state import empty_track_state, grow_track_state
from sambamotr_jax.weights import converted_checkpoint


@dataclasses.dataclass(frozen=True)
class FrameTracks:
    """Tracks written for one frame (the official Submitter's filtered rows).

    Attributes:
      index: 0-based index of the frame in the sequence (MOT frame number is index + 1).
      ids: (n,) int track ids.
      labels: (n,) int class of each track.
      scores: (n,) float32 best class score.
      boxes_xyxy: (n, 4) float32 boxes in original-frame pixels.
    """

    index: int
    ids: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    boxes_xyxy: np.ndarray

    def to_supervision(self):
        """These tracks as `supervision.Detections` (xyxy float32, confidence, class_id,
        tracker_id); needs the `supervision` extra (`pip install -e ".[supervision]"`)."""
        from sambamotr_jax.tracking import supervision_tracker  # noqa: PLC0415 (optional extra)

        return supervision_tracker.to_detections(self)


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
        self.capacity = int(t.max_tracks)
        self.max_capacity = max(int(t.max_tracks_limit), self.capacity)
        # No donation: a frame that overflows is redone from its input state.
        self._step = frame_step.make_frame_step(
            self.model, self.params, return_detections=return_detections, donate=False
        )
        self.last_detections = None  # detector outputs of the last collected frame (debugging)

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
        state = self.new_state()
        pending = None  # (index, input state, frame inputs, results) of the frame in flight
        for i, frame in enumerate(frames):
            inputs = self._frame_inputs(frame)
            if pending is not None:
                state, collected = self._finish(*pending, state)
                yield collected
            previous = state
            state, results = self._step(self.variables, state, *inputs)
            pending = (i * interval, previous, inputs, results)
            self.state = state
        if pending is not None:
            _, collected = self._finish(*pending, state)
            yield collected

    def track_frame(self, state, frame: np.ndarray, *, index: int = 0):
        """Tracks one (H, W, 3) uint8 RGB frame at once (no overlap with reading the next one).

        Args:
          state: the track state after the previous frame (`new_state()` before the first).
          frame: the frame; `index` is its 0-based index, copied into the result.

        Returns:
          (the state after this frame, its FrameTracks): frame by frame the same results as
          `track_frames` (capacity growth included).
        """
        inputs = self._frame_inputs(frame)
        new_state, results = self._step(self.variables, state, *inputs)
        new_state, collected = self._finish(index, state, inputs, results, new_state)
        self.state = new_state
        return new_state, collected

    def _frame_inputs(self, frame: np.ndarray):
        """(image (1, h, w, 3), mask (1, h, w), original (H, W)) of an RGB frame for the step."""
        t = self.config.tracker
        image, mask = frame_preprocess.preprocess_frame(frame, t.short_side, t.max_size)
        return image[None], mask[None], np.array(frame.shape[:2], np.float32)

    def _finish(self, index, previous, inputs, results, state):
        """Collects a frame's results; on overflow grows the capacity and redoes the frame."""
        r = jax.device_get(results)
        while int(r["overflow"]) > 0 and self.capacity < self.max_capacity:
            new_capacity = min(2 * self.capacity, self.max_capacity)
            logging.info(
                "frame %d: %d live tracks do not fit %d slots; capacity -> %d",
                index + 1,
                int(r["overflow"]) + self.capacity,
                self.capacity,
                new_capacity,
            )
            self.capacity = new_capacity
            previous = grow_track_state(previous, new_capacity)
            state, results = self._step(self.variables, previous, *inputs)
            self.state = state
            r = jax.device_get(results)
        return state, self._collect(index, r)

    def track_paths(self, paths: list[pathlib.Path], *, interval: int = 1) -> Iterator[FrameTracks]:
        """Tracks frames read from files, every `interval`-th one, as the official SeqDataset."""
        selected = paths[: len(paths) // interval * interval : interval] if interval > 1 else paths
        return self.track_frames((frame_images.read_rgb(p) for p in selected), interval=interval)

    def track_sequence(
        self, seq_dir: str | pathlib.Path, *, interval: int = 1
    ) -> Iterator[FrameTracks]:
        return self.track_paths(sequence_folder.sequence_frames(seq_dir), interval=interval)

    def _collect(self, index: int, r) -> FrameTracks:
        self.last_detections = r.get("detections")
        if int(r["overflow"]) > 0:
            logging.warning(
                "frame %d: %d tracks dropped: more live tracks than "
                "tracker.max_tracks_limit=%d; raise --config.tracker.max_tracks_limit",
                index + 1,
                int(r["overflow"]),
                self.capacity,
            )
        keep = np.asarray(r["keep"])
        return FrameTracks(
            index=index,
            ids=np.asarray(r["ids"])[keep],
            labels=np.asarray(r["labels"])[keep],
            scores=np.asarray(r["scores"])[keep],
            boxes_xyxy=np.asarray(r["boxes_xyxy"])[keep],
        )
