"""Video files (PyAV / FFmpeg): reading frames as RGB with their index, writing frames.

Any container and codec the FFmpeg inside PyAV reads (.mp4, .avi, .mkv, .mov, .webm, ...) is
read by `open_video`, which checks the file at once (missing, empty, not a video, no video
stream: one `InputError`) and decodes lazily, one frame at a time, so memory does not grow with
the video's length.

A frame that cannot be decoded (FFmpeg rejects its packet) is reported as one warning line naming
the file and the frame's 0-based index, and skipped: reading goes on with the next frame, which
keeps its own index (the skipped frame still counts), and trackers see a dropped frame. Indices
count decoded frames and rejected packets in decoding order; damage that FFmpeg conceals or drops
without an error (possible in H.264) is not seen here.

`VideoWriter` writes (H, W, 3) uint8 frames to a video (H.264 for .mp4/.mov/.mkv, MPEG-4 part 2
for .avi, VP9 for .webm; one output frame per written frame) or, for a path without a video
suffix, to a folder of numbered .jpg files.
"""

from __future__ import annotations

import dataclasses
import fractions
import logging
import os
import pathlib
from collections.abc import Iterator

import cv2
import numpy as np

from sambamotr_jax.formats.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
DEFAULT_FPS = 20.0  # used when the video (or a frame folder) does not say its frame rate

_WRITE_CODECS = {".avi": "mpeg4", ".webm": "libvpx-vp9"}  # others: libx264


def is_video_path(path: str | os.PathLike) -> bool:
    """True when `path` has a video suffix (VIDEO_SUFFIXES, any case)."""
    return pathlib.Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclasses.dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: `index` (0-based position in the video) and `rgb` ((H, W, 3) uint8)."""

    index: int
    rgb: np.ndarray


@dataclasses.dataclass
class Video:
    """An opened video: `fps`, `num_frames` (the container's count; None when it does not say)
    and `frames()`, the lazy iterator over its `VideoFrame`s (iterate it once)."""

    path: pathlib.Path
    fps: float
    num_frames: int | None
    _container: object

    def frames(self) -> Iterator[VideoFrame]:
        import av  # noqa: PLC0415

        container, index = self._container, 0
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()  # an empty packet flushes the decoder at the end
                except av.error.FFmpegError as err:
                    if packet.size == 0:
                        continue
                    logging.warning(
                        "%s: frame %d cannot be decoded (%s); skipped", self.path, index, err
                    )
                    index += 1
                    continue
                for frame in decoded:
                    yield VideoFrame(index, frame.to_ndarray(format="rgb24"))
                    index += 1
        finally:
            container.close()

    def close(self) -> None:
        self._container.close()


def open_video(path: str | os.PathLike) -> Video:
    """Opens a video file for reading (no frame decoded yet).

    Raises:
      InputError: the file is missing, empty (0 bytes), not a file FFmpeg can read, or holds no
        video stream.
    """
    import av  # noqa: PLC0415

    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes), not a video")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError) as err:
        raise InputError(f"{path}: cannot read this file as a video ({err})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: the file holds no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else DEFAULT_FPS
    return Video(path, fps, int(stream.frames) or None, container)


class VideoWriter:
    """Writes frames to a video file (a VIDEO_SUFFIXES path) or a folder of numbered .jpg files
    (any other path). Use as a context manager; `count` is the number of frames written."""

    def __init__(self, output: str | os.PathLike, fps: float):
        self.output = pathlib.Path(output)
        self.fps = float(fps)
        self.is_video = is_video_path(self.output)
        self.count = 0
        self._container = None
        self._stream = None
        self._size = None

    def _open(self, height: int, width: int) -> None:
        import av  # noqa: PLC0415

        self.output.parent.mkdir(parents=True, exist_ok=True)
        codec = _WRITE_CODECS.get(self.output.suffix.lower(), "libx264")
        self._container = av.open(str(self.output), mode="w")
        rate = fractions.Fraction(self.fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=rate)
        # 4:2:0 chroma needs even sizes: odd frames get one edge row / column more.
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"

    def write(self, image: np.ndarray, *, channels: str = "rgb") -> None:
        """Appends one (H, W, 3) uint8 frame (`channels` 'rgb' or 'bgr'); every frame must have
        the first one's size."""
        if channels not in ("rgb", "bgr"):
            raise ValueError(f"channels={channels!r}: 'rgb' or 'bgr'")
        size = image.shape[:2]
        if self._size is None:
            self._size = size
            if self.is_video:
                self._open(*size)
            else:
                self.output.mkdir(parents=True, exist_ok=True)
        elif size != self._size:
            raise ValueError(f"frame size {size} differs from the first frame's {self._size}")
        self.count += 1
        if not self.is_video:
            bgr = image if channels == "bgr" else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            path = self.output / f"{self.count:08d}.jpg"
            if not cv2.imwrite(str(path), bgr):
                raise OSError(f"{path}: cannot write the frame")
            return
        import av  # noqa: PLC0415

        h, w = size
        if (h % 2, w % 2) != (0, 0):
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(image), format="rgb24" if channels == "rgb" else "bgr24"
        )
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():  # flush the encoder's delayed frames
                self._container.mux(packet)
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
