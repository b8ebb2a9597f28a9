"""Track one sequence folder or video and write its MOT-format result file.

    python -m sambamotr_jax.track --config=configs/dancetrack.py --checkpoint=CKPT_DIR \
        --input=DanceTrack/val/dancetrack0004 --output=dancetrack0004.txt
    sambamotr-track --config=configs/dancetrack.py --checkpoint=CKPT_DIR \
        --input=video.mp4 --output=video.txt --max_frames=500

`--input` is a sequence folder with `img1/` inside, a folder of frames (.jpg/.png), or a video
file FFmpeg reads (.mp4, .avi, .mkv, ...). The MOT frame number of a line is the input frame's
1-based number. A video frame that cannot be decoded is reported as one warning line with its
index and skipped; tracking goes on with the next frame. `--max_frames=N` tracks only the first
N frames of the input. Tracker
settings are config fields, e.g. `--config.tracker.det_score_thresh=0.5`,
`--config.tracker.track_score_thresh=`, `--config.tracker.result_score_thresh=`,
`--config.tracker.miss_tolerance=`, `--config.model.update_thresh=`,
`--config.tracker.short_side=800`, `--config.tracker.max_size=1536`, `--config.model.use_dab=True`.
The output file is written atomically when the sequence is done. A missing or malformed input
stops with one line `... error: ...` (exit status 2; --debug adds the traceback).
"""

from __future__ import annotations

import time

from absl import flags
from ml_collections import config_flags

from sambamotr_jax.runtime import cli, malloc_pad
from sambamotr_jax.tracking import sequence_runner
from sambamotr_jax.training import config_checks

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Converted checkpoint directory.")
_INPUT = flags.DEFINE_string(
    "input", None, "Sequence folder (img1/ inside), frames folder or video file."
)
_OUTPUT = flags.DEFINE_string("output", None, "MOT-format result file to write.")
_INTERVAL = flags.DEFINE_integer("interval", 1, "Track every k-th frame (official EVAL_INTERVAL).")
_MAX_FRAMES = flags.DEFINE_integer(
    "max_frames", None, "Read only the input's first N frames (default: all).", lower_bound=1
)
flags.mark_flags_as_required(["config", "checkpoint", "input", "output"])


def main(argv):
    del argv
    config = _CONFIG.value  # the config is read and checked before any file
    config_checks.check_config(config, ("model", "tracker"))
    malloc_pad.configure()  # huge pages and a top pad for XLA:CPU's buffers (may restart)
    t0 = time.perf_counter()
    n_frames, n_lines = sequence_runner.track_to_file(
        config,
        _CHECKPOINT.value,
        _INPUT.value,
        _OUTPUT.value,
        interval=_INTERVAL.value,
        max_frames=_MAX_FRAMES.value,
    )
    dt = time.perf_counter() - t0
    print(
        f"wrote {n_lines} lines for {n_frames} frames to {_OUTPUT.value} ({n_frames / dt:.2f} FPS)"
    )


def run():
    """Entry point of `sambamotr-track` and `python -m sambamotr_jax.track`."""
    cli.run_absl(main, module="sambamotr_jax.track", doc=__doc__)


if __name__ == "__main__":
    run()
