"""The tracker behind roboflow `supervision`'s interfaces (public as `api.SupervisionTracker`).

    import supervision as sv
    from configs import dancetrack
    from sambamotr_jax import api

    tracker = api.SupervisionTracker.from_checkpoint(dancetrack.get_config(), "ckpt/sambamotr")
    for frame in sv.get_video_frames_generator("video.mp4"):  # BGR, as cv2 reads them
        detections = tracker.update(frame)  # supervision.Detections with tracker_id
    tracker.reset()  # a new video: ids start again from 0

SambaMOTR / MeMOTR detect and track in one model, so `update` takes the frame itself (the
trackers of supervision and roboflow `trackers` take a detector's `Detections`). Frames are
(H, W, 3) uint8 in BGR order by default, supervision's and OpenCV's convention; pass
`channels="rgb"` for RGB frames (PIL, PyAV, `sambamotr_jax.formats.video_file`).

supervision is an optional extra, imported only here and only when used: without it these
functions raise one `InputError` saying how to install it.
"""

from __future__ import annotations

import numpy as np

from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.online.frame_loop import import_supervision
from sambamotr_jax.tracking.tracker import Tracker


class SupervisionTracker:
    """`update(frame) -> supervision.Detections` and `reset()` over a `Tracker`.

    Each `update` runs the frame at once and returns its tracks; the results are frame by frame
    those of `Tracker.track_frames` on the same frames.
    """

    def __init__(self, tracker: Tracker, *, channels: str = "bgr"):
        if channels not in ("bgr", "rgb"):
            raise ValueError(f"channels={channels!r}: 'bgr' (supervision, OpenCV) or 'rgb'")
        import_supervision()
        self.tracker = tracker
        self.channels = channels
        self.reset()

    @classmethod
    def from_checkpoint(cls, config, checkpoint_dir, *, channels: str = "bgr"):
        """The tracker of a converted or trained checkpoint (`Tracker.from_checkpoint`)."""
        return cls(Tracker.from_checkpoint(config, checkpoint_dir), channels=channels)

    def reset(self) -> None:
        """Forgets every track: the next `update` is the first frame of a new video (ids from 0)."""
        self._state = self.tracker.new_state()
        self.frame_index = 0

    def update(self, frame: np.ndarray):
        """Tracks the next frame of the video.

        Args:
          frame: (H, W, 3) uint8 image, BGR (default) or RGB (`channels="rgb"`).

        Returns:
          `supervision.Detections` of the tracks shown in this frame, with `tracker_id`.
        """
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise InputError(
                f"update(frame): frame of shape {frame.shape} and dtype {frame.dtype}; "
                f"give an (H, W, 3) uint8 {self.channels.upper()} image"
            )
        rgb = frame[..., ::-1] if self.channels == "bgr" else frame
        self._state, tracks = self.tracker.track_frame(
            self._state, np.ascontiguousarray(rgb), index=self.frame_index
        )
        self.frame_index += 1
        return tracks.to_supervision()
