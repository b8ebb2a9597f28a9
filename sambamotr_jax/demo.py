"""Draw a tracker's tracks on a video or a folder of frames.

    python -m sambamotr_jax.demo --input VIDEO.mp4|FRAMES_DIR --checkpoint DIR --output OUT.mp4

Each track gets a stable colour and its id. The model config comes from the checkpoint
(`DIR/model.json`); tracker thresholds are the defaults of `configs/common.py` unless `--config`
names a config file (then `--config.tracker.det_score_thresh=...` etc. override).
"""

from __future__ import annotations

import tempfile

from absl import app, flags
from ml_collections import config_flags

from sambamotr_jax import draw, track_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Optional config file.", lock_config=True)
_INPUT = flags.DEFINE_string("input", None, "Video file, frames folder or sequence folder.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Converted or trained checkpoint directory.")
_OUTPUT = flags.DEFINE_string("output", None, "Output .mp4 (or a folder for .jpg frames).")
_INTERVAL = flags.DEFINE_integer("interval", 1, "Track every k-th frame.")
flags.mark_flags_as_required(["input", "checkpoint", "output"])


def main(argv):
    del argv
    config = _CONFIG.value or track_lib.config_from_checkpoint(_CHECKPOINT.value)
    track_fn = track_lib.make_track_fn(config, _CHECKPOINT.value)
    with tempfile.TemporaryDirectory() as work:
        frames, fps = draw.input_frames(_INPUT.value, work)
        n = draw.render_tracks(
            frames,
            track_fn(frames, interval=_INTERVAL.value),
            _OUTPUT.value,
            fps=fps / _INTERVAL.value,
        )
    print(f"wrote {n} frames to {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)
