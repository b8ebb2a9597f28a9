"""Draw a tracker's tracks on a video or a folder of frames.

    python -m sambamotr_jax.demo --input VIDEO.mp4|FRAMES_DIR --checkpoint DIR --output OUT.mp4

Each track gets a stable colour and its id; a multi-class model (`model.num_classes > 1`) also
tags each box with its class (the BDD100K category names for 8 classes). The model config comes from the checkpoint
(`DIR/model.json`); tracker thresholds are the defaults of `configs/common.py` unless `--config`
names a config file (then `--config.tracker.det_score_thresh=...` etc. override).
"""

from __future__ import annotations

import tempfile

from absl import app, flags
from ml_collections import config_flags

from configs import common
from sambamotr_jax.formats import bdd100k_json
from sambamotr_jax.runtime import cli, malloc_pad
from sambamotr_jax.tracking import drawing, sequence_runner

_CONFIG = config_flags.DEFINE_config_file("config", None, "Optional config file.", lock_config=True)
_INPUT = flags.DEFINE_string("input", None, "Video file, frames folder or sequence folder.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Converted or trained checkpoint directory.")
_OUTPUT = flags.DEFINE_string("output", None, "Output .mp4 (or a folder for .jpg frames).")
_INTERVAL = flags.DEFINE_integer("interval", 1, "Track every k-th frame.")
flags.mark_flags_as_required(["input", "checkpoint", "output"])


def demo_class_names(num_classes: int) -> tuple[str, ...] | None:
    """Box tags: None (ids only) for one class, BDD100K's categories for 8, else `class k`."""
    if num_classes <= 1:
        return None
    if num_classes == len(bdd100k_json.CATEGORIES):
        return bdd100k_json.CATEGORIES
    return tuple(f"class {k}" for k in range(num_classes))


def main(argv):
    del argv
    malloc_pad.keep_freed_memory()  # XLA:CPU frame steps reuse freed memory
    config = _CONFIG.value or sequence_runner.config_from_checkpoint(
        common.get_config(), _CHECKPOINT.value
    )
    track_fn = sequence_runner.make_track_fn(config, _CHECKPOINT.value)
    class_names = demo_class_names(config.model.num_classes)
    with tempfile.TemporaryDirectory() as work:
        frames, fps = drawing.input_frames(_INPUT.value, work)
        n = drawing.render_tracks(
            frames,
            track_fn(frames, interval=_INTERVAL.value),
            _OUTPUT.value,
            fps=fps / _INTERVAL.value,
            class_names=class_names,
        )
    print(f"wrote {n} frames to {_OUTPUT.value}")


if __name__ == "__main__":
    cli.run(lambda argv: app.run(main, argv=argv), prog="python -m sambamotr_jax.demo")
