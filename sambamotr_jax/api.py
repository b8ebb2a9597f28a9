"""Python API: run the tracker on frames or on a MOT-format sequence folder.

    from sambamotr_jax import api
    tracker = api.Tracker.from_checkpoint(config, "converted/")
    for frame in tracker.track_sequence("DanceTrack/val/dancetrack0004"):
        print(frame.index, frame.ids, frame.boxes_xyxy)

The names here are the stable public surface; they are defined in `sambamotr_jax.tracking`.
"""

from sambamotr_jax.tracking.tracker import FrameTracks, Tracker

__all__ = ["FrameTracks", "Tracker"]
