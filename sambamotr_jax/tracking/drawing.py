"""Drawing tracks on frames with supervision's annotators, and writing the drawn video.

Used by the demo: `render_tracks` draws each tracked frame's boxes (`sv.BoxAnnotator`), a label
with the track id, and the class name for a multi-class model (`sv.LabelAnnotator`), and the
recent path of each track's box centre (`sv.TraceAnnotator`), then writes the frame with
`formats.video_file.VideoWriter`. Colours follow the track id (`ColorLookup.TRACK`), so a track
keeps its colour. Needs the `supervision` extra.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from sambamotr_jax.formats import video_file
from sambamotr_jax.tracking.supervision_tracker import import_supervision
from sambamotr_jax.tracking.tracker import FrameTracks


def class_label(label: int, class_names: Sequence[str]) -> str:
    """The name of a 0-based label, or `class <label>` when `class_names` has no such entry."""
    return class_names[label] if 0 <= label < len(class_names) else f"class {label}"


class TrackAnnotator:
    """Draws boxes, labels (id, and class name when `class_names` is given) and traces.

    One object per video: the trace annotator remembers the last `trace_length` centres of each
    track.
    """

    def __init__(self, class_names: Sequence[str] | None = None, *, trace_length: int = 30):
        sv = import_supervision()
        lookup = sv.ColorLookup.TRACK
        self.class_names = class_names
        self._boxes = sv.BoxAnnotator(color_lookup=lookup)
        self._labels = sv.LabelAnnotator(color_lookup=lookup, text_position=sv.Position.TOP_LEFT)
        self._traces = sv.TraceAnnotator(color_lookup=lookup, trace_length=trace_length)

    def labels(self, tracks: FrameTracks) -> list[str]:
        """'<id>', or '<id> <class name>' with class names, per track."""
        if self.class_names is None:
            return [str(i) for i in tracks.ids.tolist()]
        return [
            f"{i} {class_label(label, self.class_names)}"
            for i, label in zip(tracks.ids.tolist(), tracks.labels.tolist())
        ]

    def annotate(self, bgr: np.ndarray, tracks: FrameTracks) -> np.ndarray:
        """A drawn copy of an (H, W, 3) uint8 BGR frame (supervision's colour order)."""
        detections = tracks.to_supervision()
        out = bgr.copy()
        out = self._traces.annotate(out, detections)
        out = self._boxes.annotate(out, detections)
        return self._labels.annotate(out, detections, labels=self.labels(tracks))


def render_tracks(
    tracked: Iterable[tuple[FrameTracks, np.ndarray]],
    output: str | os.PathLike,
    *,
    fps: float,
    class_names: Sequence[str] | None = None,
) -> int:
    """Draws each tracked frame and writes it to `output`, one output frame per tracked frame.

    Args:
      tracked: (the frame's tracks, the (H, W, 3) uint8 RGB frame) in order, consumed lazily so
        that drawing follows tracking and memory stays flat.
      output: a video file (`video_file.VIDEO_SUFFIXES`) or a folder for numbered .jpg frames.
      fps: frame rate of the written video.
      class_names: names of the 0-based class labels for the box labels; None: ids only.

    Returns:
      The number of frames written.
    """
    annotator = TrackAnnotator(class_names)
    with video_file.VideoWriter(output, fps) as writer:
        for tracks, rgb in tracked:
            bgr = np.ascontiguousarray(rgb[..., ::-1])
            writer.write(annotator.annotate(bgr, tracks), channels="bgr")
        return writer.count
