"""Draw a tracker's tracks on a video or a folder of frames.

    python -m sambamotr_jax.demo --input=VIDEO.mp4|FRAMES_DIR --checkpoint=DIR --output=OUT.mp4
    sambamotr-demo --input=video.mkv --checkpoint=DIR --output=tracks.mp4 --max_frames=300

`--input` is a video file FFmpeg reads (.mp4, .avi, .mkv, ...), a folder of frames or a sequence
folder; `--output` a video (.mp4, .mkv, .avi, ...) or a folder for .jpg frames, one output frame
per tracked input frame. Boxes, labels and traces are drawn with supervision's annotators
(`sambamotr_jax/tracking/drawing.py`; needs `pip install -e ".[supervision]"`): each track keeps
one colour and shows its id; a multi-class model (`model.num_classes > 1`) also labels each box
with its class (the BDD100K category names for 8 classes).

A video frame that cannot be decoded is reported as one warning line with its index and skipped
(not drawn); the demo goes on with the next frame. `--max_frames=N` stops after the input's
first N frames. Frames are read, tracked, drawn and written one at a time: memory does not grow
with the video's length.

The model config comes from the checkpoint (`DIR/model.json`); tracker thresholds are the
defaults of `configs/common.py` unless `--config` names a config file (then
`--config.tracker.det_score_thresh=...` etc. override).
"""

from __future__ import annotations

from absl import app, flags
from ml_collections import config_flags

from configs import common
from sambamotr_jax.formats import bdd100k_json
from sambamotr_jax.runtime import cli, malloc_pad
from sambamotr_jax.tracking import drawing, sequence_runner, supervision_tracker
from sambamotr_jax.tracking.tracker import Tracker
from sambamotr_jax.training import config_checks

_CONFIG = config_flags.DEFINE_config_file("config", None, "Optional config file.", lock_config=True)
_INPUT = flags.DEFINE_string("input", None, "Video file, frames folder or sequence folder.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Converted or trained checkpoint directory.")
_OUTPUT = flags.DEFINE_string("output", None, "Output video (.mp4, .mkv, ...) or a folder (.jpg).")
_INTERVAL = flags.DEFINE_integer("interval", 1, "Track every k-th frame.")
_MAX_FRAMES = flags.DEFINE_integer(
    "max_frames", None, "Read only the input's first N frames (default: all).", lower_bound=1
)
flags.mark_flags_as_required(["input", "checkpoint", "output"])


def demo_class_names(num_classes: int) -> tuple[str, ...] | None:
    """Box tags: None (ids only) for one class, BDD100K's categories for 8, else `class k`."""
    if num_classes <= 1:
        return None
    if num_classes == len(bdd100k_json.CATEGORIES):
        return bdd100k_json.CATEGORIES
    return tuple(f"class {k}" for k in range(num_classes))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    malloc_pad.configure()  # huge pages and a top pad for XLA:CPU's buffers (may restart)
    if _CONFIG.value is not None:  # the config is read and checked before any file
        config_checks.check_config(_CONFIG.value, ("model", "tracker"))
    supervision_tracker.import_supervision()  # fail before the model loads
    frames = sequence_runner.open_input(
        _INPUT.value, interval=_INTERVAL.value, max_frames=_MAX_FRAMES.value
    )
    config = _CONFIG.value or sequence_runner.config_from_checkpoint(
        common.get_config(), _CHECKPOINT.value
    )
    tracker = Tracker.from_checkpoint(config, _CHECKPOINT.value)
    n = drawing.render_tracks(
        sequence_runner.track_input(tracker, frames),
        _OUTPUT.value,
        fps=frames.fps / _INTERVAL.value,
        class_names=demo_class_names(config.model.num_classes),
    )
    print(f"wrote {n} frames to {_OUTPUT.value}")


def run():
    """Entry point of `sambamotr-demo` and `python -m sambamotr_jax.demo`."""
    cli.run_absl(main, module="sambamotr_jax.demo", doc=__doc__)


if __name__ == "__main__":
    run()
