"""Drawing tracks on frames and reading / writing videos and frame folders (OpenCV, BGR uint8).

Used by the demo: `input_frames` turns a video or a frames folder into frame files (the tracker
reads files), `render_tracks` draws the tracker's results on them and writes an `.mp4` (or a
folder of `.jpg` frames). Every track keeps one colour, derived from its id alone; with several
classes the tag beside the id names the track's class.
"""

from __future__ import annotations

import colorsys
import pathlib
from collections.abc import Iterable, Iterator, Sequence

import cv2
import numpy as np

from sambamotr_jax.formats import frame_images, sequence_folder
from sambamotr_jax.formats.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
DEFAULT_FPS = 20.0  # DanceTrack's frame rate, for frame folders without a seqinfo.ini.

_GOLDEN = 0.618033988749895


def color_for_id(track_id: int) -> tuple[int, int, int]:
    """A stable BGR colour for a track id: hues a golden-ratio step apart, so consecutive ids
    differ strongly; the same id always gets the same colour (no hashing, no randomness)."""
    hue = (int(track_id) * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(round(255 * b)), int(round(255 * g)), int(round(255 * r))


def class_label(label: int, class_names: Sequence[str]) -> str:
    """The name of a 0-based label, or `class <label>` when `class_names` has no such entry."""
    return class_names[label] if 0 <= label < len(class_names) else f"class {label}"


def draw_tracks(
    image: np.ndarray,
    tracks: Iterable[Sequence[float]],
    *,
    thickness: int = 2,
    font_scale: float = 0.6,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Draws each track's box and id on a copy of `image`.

    Args:
      image: (H, W, 3) uint8 BGR frame (left untouched).
      tracks: rows (track_id, x1, y1, w, h[, score[, label]]) in pixels of `image`.
      class_names: names of the 0-based labels; when given, a row with a label is tagged
        "<id> <class name>" (the colour still follows the id). None: the id alone.

    Returns:
      (H, W, 3) uint8 BGR copy with the boxes and id labels.
    """
    out = np.ascontiguousarray(image).copy()
    font = cv2.FONT_HERSHEY_SIMPLEX
    for row in tracks:
        track_id, x1, y1, w, h = int(row[0]), *(float(v) for v in row[1:5])
        color = color_for_id(track_id)
        p1 = (int(round(x1)), int(round(y1)))
        p2 = (int(round(x1 + w)), int(round(y1 + h)))
        cv2.rectangle(out, p1, p2, color, thickness)
        # Label: the id on a filled patch of the track's colour, above the box (inside it when
        # the box touches the top of the frame).
        text = str(track_id)
        if class_names is not None and len(row) > 6:
            text = f"{track_id} {class_label(int(row[6]), class_names)}"
        (tw, th), baseline = cv2.getTextSize(text, font, font_scale, 1)
        top = p1[1] - th - baseline - 2 if p1[1] - th - baseline - 2 >= 0 else p1[1]
        cv2.rectangle(out, (p1[0], top), (p1[0] + tw + 4, top + th + baseline + 2), color, -1)
        luminance = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
        text_color = (0, 0, 0) if luminance > 128 else (255, 255, 255)
        cv2.putText(
            out, text, (p1[0] + 2, top + th + 1), font, font_scale, text_color, 1, cv2.LINE_AA
        )
    return out


def read_video(path: str | pathlib.Path) -> tuple[Iterator[np.ndarray], float]:
    """(iterator over (H, W, 3) uint8 BGR frames, frames per second) of a video file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: video file not found")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(
            f"{path}: OpenCV cannot open this video; convert it to .mp4 (H.264/MPEG-4)"
        )
    fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS

    def frames():
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield frame
        finally:
            capture.release()

    return frames(), float(fps)


def input_frames(
    source: str | pathlib.Path, work_dir: str | pathlib.Path, *, ext: str = ".png"
) -> tuple[list[pathlib.Path], float]:
    """Frame files and frame rate of a demo input.

    Args:
      source: a video file, a folder of `.jpg` / `.png` frames, or a sequence folder
        (`seqinfo.ini` + `img1/`).
      work_dir: where a video's frames are extracted (as `00000001<ext>`, ...); unused for folders.
      ext: image format of extracted frames (`.png` is lossless).

    Returns:
      (frame paths in order, frames per second: the video's, seqinfo.ini's frameRate, or 20).
    """
    source = pathlib.Path(source)
    if source.is_dir():
        fps = DEFAULT_FPS
        for ini_dir in (source, source.parent):
            if (ini_dir / "seqinfo.ini").is_file():
                fps = sequence_folder.read_seqinfo(ini_dir).frame_rate or DEFAULT_FPS
                break
        return sequence_folder.sequence_frames(source), fps
    if source.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{source}: not a frames folder nor a video ({', '.join(VIDEO_SUFFIXES)})")
    frames, fps = read_video(source)
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames, start=1):
        path = work_dir / f"{i:08d}{ext}"
        if not cv2.imwrite(str(path), frame):
            raise OSError(f"{path}: cannot write the extracted frame")
        paths.append(path)
    if not paths:
        raise InputError(f"{source}: the video has no frames")
    return paths, fps


class FrameWriter:
    """Writes frames to a video (`.mp4` and the other VIDEO_SUFFIXES, MPEG-4 codec) or, for any
    other path, to a folder of numbered `.jpg` files. Use as a context manager."""

    def __init__(self, output: str | pathlib.Path, fps: float):
        self.output = pathlib.Path(output)
        self.fps = float(fps)
        self.is_video = self.output.suffix.lower() in VIDEO_SUFFIXES
        self.count = 0
        self._writer = None
        self._size = None

    def write(self, image: np.ndarray) -> None:
        """Appends one (H, W, 3) uint8 BGR frame; every frame must have the first one's size."""
        size = (image.shape[1], image.shape[0])
        if self._size is None:
            self._size = size
            if self.is_video:
                self.output.parent.mkdir(parents=True, exist_ok=True)
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                self._writer = cv2.VideoWriter(str(self.output), fourcc, self.fps, size)
                if not self._writer.isOpened():
                    raise OSError(f"{self.output}: OpenCV cannot write this video")
            else:
                self.output.mkdir(parents=True, exist_ok=True)
        elif size != self._size:
            raise ValueError(f"frame size {size} differs from the first frame's {self._size}")
        self.count += 1
        if self.is_video:
            self._writer.write(image)
        else:
            path = self.output / f"{self.count:08d}.jpg"
            if not cv2.imwrite(str(path), image):
                raise OSError(f"{path}: cannot write the frame")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def render_tracks(
    frames: Sequence[pathlib.Path],
    results: Iterable[tuple[int, Sequence[Sequence[float]]]],
    output: str | pathlib.Path,
    *,
    fps: float,
    class_names: Sequence[str] | None = None,
) -> int:
    """Draws a tracker's results on their frames and writes them to `output`.

    Args:
      frames: the sequence's frame files.
      results: (1-based frame number, [(track_id, x1, y1, w, h, score[, label]), ...]) per
        processed frame, as a `TrackFn` yields them (consumed lazily, so drawing follows
        tracking).
      class_names: label names for the box tags (`draw_tracks`); None: ids only.
      output: `.mp4` file (or another VIDEO_SUFFIXES) or a folder for `.jpg` frames.
      fps: frame rate of the written video (the input's rate / interval when only every
        k-th frame is tracked).

    Returns:
      The number of frames written.
    """
    with FrameWriter(output, fps) as writer:
        for frame, rows in results:
            image = cv2.cvtColor(frame_images.read_rgb(frames[frame - 1]), cv2.COLOR_RGB2BGR)
            writer.write(draw_tracks(image, rows, class_names=class_names))
        return writer.count
