"""The frame loop of the online tracker: frames in, `FrameTracks` out, over any jitted frame step.

The step runs one frame at a fixed track capacity K (every per-track array has a leading K
axis). The loop starts at an initial capacity and, whenever a frame would drop a track, grows
the capacity (doubling, up to a limit) and runs that frame again from its saved input state, so
results are exact. While the device works on frame t the host reads and preprocesses frame t+1;
only the per-slot result rows are fetched.

Used by `tracking.tracker.Tracker` (the model in process) and `serve.ArtifactTracker` (an
exported artifact): one implementation of the host-side logic.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sambamotr_jax.formats import mot_text
from sambamotr_jax.formats.errors import InputError

SUPERVISION_INSTALL_HINT = (
    'supervision is not installed; install it with: pip install -e ".[supervision]"'
)

# step(state, image, pad_mask, orig_hw) -> (next state, results): results per slot of the next
# state, `ids` (K,), `labels` (K,), `scores` (K,), `boxes_xyxy` (K, 4) original pixels, `keep`
# (K,) bool rows to write, `overflow` () tracks that did not fit.
StepFn = Callable[..., tuple[Any, dict]]


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
        """These tracks as `supervision.Detections`: xyxy (n, 4) float32 in original pixels,
        confidence (n,) float32, class_id (n,) int (0-based class), tracker_id (n,) int.
        Needs the `supervision` extra (`pip install -e ".[supervision]"`)."""
        sv = import_supervision()
        return sv.Detections(
            xyxy=np.asarray(self.boxes_xyxy, np.float32).reshape(-1, 4),
            confidence=np.asarray(self.scores, np.float32),
            class_id=np.asarray(self.labels, int),
            tracker_id=np.asarray(self.ids, int),
        )


def import_supervision():
    """The `supervision` module (an optional extra), or one InputError saying how to install it."""
    try:
        import supervision  # noqa: PLC0415 (optional extra)
    except ImportError:
        raise InputError(SUPERVISION_INSTALL_HINT) from None
    return supervision


def mot_lines(frame: FrameTracks) -> list[str]:
    """MOT lines of one frame exactly as the official Submitter writes them."""
    lines = []
    for track_id, (x1, y1, x2, y2) in zip(frame.ids.tolist(), frame.boxes_xyxy.tolist()):
        x, y, w, h = mot_text.mot_box_from_xyxy(x1, y1, x2, y2)
        lines.append(mot_text.format_mot_line(frame.index + 1, track_id, x, y, w, h))
    return lines


def every_kth(paths: list, interval: int) -> list:
    """Every `interval`-th frame, as the official SeqDataset (a trailing partial group dropped)."""
    return paths[: len(paths) // interval * interval : interval] if interval > 1 else paths


def capacities(initial: int, limit: int) -> list[int]:
    """The capacities a run may use: `initial`, doubled until `limit` (the last one capped)."""
    out = [initial]
    while out[-1] < limit:
        out.append(min(2 * out[-1], limit))
    return out


def grow_slots(state, capacity: int, fills):
    """`state` with every per-slot array (leading axis K) padded to `capacity` slots.

    Args:
      state: pytree of arrays; arrays with a leading axis are per slot, scalars are kept.
      capacity: the new K (not smaller than the current one).
      fills: pytree of `state`'s structure: the value of a padding slot of each array (scalars'
        entries are unused).
    """

    def pad(x, fill):
        x = jnp.asarray(x)
        if x.ndim == 0:
            return x
        if capacity < x.shape[0]:
            raise ValueError(f"cannot shrink a track state from {x.shape[0]} to {capacity}")
        rows = jnp.full((capacity - x.shape[0], *x.shape[1:]), fill, x.dtype)
        return jnp.concatenate([x, rows])

    return jax.tree.map(pad, state, fills)


class CapacityLoop:
    """Runs `step` over frames, growing the track capacity exactly.

    Attributes:
      capacity: the current capacity (kept across runs: the next sequence starts there).
      max_capacity: the limit; past it a frame drops tracks with a warning.
      state: the track state after the last collected frame.
      last_results: host copy of the last collected frame's results.
    """

    def __init__(
        self,
        step: StepFn,
        grow: Callable[[Any, int], Any],
        *,
        capacity: int,
        max_capacity: int,
    ):
        self.step = step
        self.grow = grow
        self.capacity = int(capacity)
        self.max_capacity = max(int(max_capacity), self.capacity)
        self.state = None
        self.last_results: dict | None = None

    def run(self, state, frames: Iterable[tuple[int, tuple]]) -> Iterator[FrameTracks]:
        """Tracks `frames`, (0-based frame index, step inputs) in order, from `state`."""
        pending = None  # (index, input state, frame inputs, results) of the frame in flight
        frames = iter(frames)
        while True:
            try:
                index, inputs = next(frames)
            except StopIteration:
                break
            except Exception:
                # A frame that cannot be read: the frame in flight is still yielded first, so
                # the caller keeps the results of every frame before the one that failed.
                if pending is not None:
                    _, collected = self._finish(*pending, state)
                    yield collected
                raise
            if pending is not None:
                state, collected = self._finish(*pending, state)
                yield collected
            previous = state
            state, results = self.step(state, *inputs)
            self.state = state
            pending = (index, previous, inputs, results)
        if pending is not None:
            _, collected = self._finish(*pending, state)
            yield collected

    def run_one(self, state, index: int, inputs: tuple):
        """Tracks one frame at once (no overlap with reading the next one): (the state after
        it, its FrameTracks), frame by frame the same results as `run` (growth included)."""
        new_state, results = self.step(state, *inputs)
        new_state, collected = self._finish(index, state, inputs, results, new_state)
        self.state = new_state
        return new_state, collected

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
            previous = self.grow(previous, new_capacity)
            state, results = self.step(previous, *inputs)
            self.state = state
            r = jax.device_get(results)
        return state, self._collect(index, r)

    def _collect(self, index: int, r: dict) -> FrameTracks:
        self.last_results = r
        warn_dropped(index, int(r["overflow"]), self.capacity)
        return frame_tracks(index, r)


def warn_dropped(index: int, overflow: int, capacity: int) -> None:
    """The warning for a frame that dropped `overflow` tracks at the capacity limit."""
    if overflow > 0:
        logging.warning(
            "frame %d: %d tracks dropped: more live tracks than "
            "tracker.max_tracks_limit=%d; raise --config.tracker.max_tracks_limit",
            index + 1,
            overflow,
            capacity,
        )


def frame_tracks(index: int, r: dict) -> FrameTracks:
    """The written rows of one frame from the host copy of its per-slot results (`StepFn`)."""
    keep = np.asarray(r["keep"])
    return FrameTracks(
        index=index,
        ids=np.asarray(r["ids"])[keep],
        labels=np.asarray(r["labels"])[keep],
        scores=np.asarray(r["scores"])[keep],
        boxes_xyxy=np.asarray(r["boxes_xyxy"])[keep],
    )
