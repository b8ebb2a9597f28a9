"""Python API: run the tracker on frames, a MOT-format sequence folder, or frame by frame.

    from sambamotr_jax import api
    tracker = api.Tracker.from_checkpoint(config, "converted/")
    for frame in tracker.track_sequence("DanceTrack/val/dancetrack0004"):
        print(frame.index, frame.ids, frame.boxes_xyxy)

With roboflow supervision (`pip install -e ".[supervision]"`): `frame.to_supervision()` gives
`supervision.Detections`, and `api.SupervisionTracker` is the tracker shape supervision users
call, one BGR frame at a time:

    tracker = api.SupervisionTracker.from_checkpoint(config, "converted/")
    detections = tracker.update(frame)  # supervision.Detections with tracker_id
    tracker.reset()  # before the next video

The names here are the stable public surface; they are defined in `sambamotr_jax.tracking`.
"""

from sambamotr_jax.tracking.supervision_tracker import SupervisionTracker
from sambamotr_jax.tracking.tracker import FrameTracks, Tracker

__all__ = ["FrameTracks", "SupervisionTracker", "Tracker"]
