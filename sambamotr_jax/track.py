"""Track one sequence folder and write its MOT-format result file.

    python -m sambamotr_jax.track --config=configs/dancetrack.py --checkpoint=CKPT_DIR \
        --input=DanceTrack/val/dancetrack0004 --output=dancetrack0004.txt

`--input` is a sequence folder with `img1/` inside, or a folder of frames (.jpg/.png). Tracker
settings are config fields, e.g. `--config.tracker.det_score_thresh=0.5`,
`--config.tracker.track_score_thresh=`, `--config.tracker.result_score_thresh=`,
`--config.tracker.miss_tolerance=`, `--config.model.update_thresh=`,
`--config.tracker.short_side=800`, `--config.tracker.max_size=1536`, `--config.model.use_dab=True`.
The output file is written atomically when the sequence is done. A missing or malformed input
stops with one line `... error: ...` (exit status 2; --debug adds the traceback).
"""

from __future__ import annotations

import time

from absl import app, flags
from ml_collections import config_flags

from sambamotr_jax.runtime import cli, malloc_pad
from sambamotr_jax.tracking import sequence_runner
from sambamotr_jax.training import config_checks

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Converted checkpoint directory.")
_INPUT = flags.DEFINE_string("input", None, "Sequence folder (img1/ inside) or frames folder.")
_OUTPUT = flags.DEFINE_string("output", None, "MOT-format result file to write.")
_INTERVAL = flags.DEFINE_integer("interval", 1, "Track every k-th frame (official EVAL_INTERVAL).")
flags.mark_flags_as_required(["config", "checkpoint", "input", "output"])


def main(argv):
    del argv
    config = _CONFIG.value  # the config is read and checked before any file
    config_checks.check_config(config, ("model", "tracker"))
    malloc_pad.keep_freed_memory()  # XLA:CPU frame steps reuse freed memory
    t0 = time.perf_counter()
    n_frames, n_lines = sequence_runner.track_to_file(
        config, _CHECKPOINT.value, _INPUT.value, _OUTPUT.value, interval=_INTERVAL.value
    )
    dt = time.perf_counter() - t0
    print(
        f"wrote {n_lines} lines for {n_frames} frames to {_OUTPUT.value} ({n_frames / dt:.2f} FPS)"
    )


if __name__ == "__main__":
    cli.run(lambda argv: app.run(main, argv=argv), prog="python -m sambamotr_jax.track")
