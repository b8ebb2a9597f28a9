"""Export the tracker to one deployable artifact file that `python -m sambamotr_jax.serve` runs
without the model code (JAX, NumPy and OpenCV only).

    python -m sambamotr_jax.export --config=configs/dancetrack.py --checkpoint=CKPT_DIR \
        --frame_size=1080,1920 --frame_size=720,1280 --platforms=cpu,cuda --output=tracker.zip

`--frame_size` (repeatable) is the size of the frames to track, in original pixels (HEIGHT,WIDTH);
the artifact holds the jitted frame step (serialized with `jax.export`) for the input those frames
become after the official resize (`--config.tracker.short_side` / `max_size`) and padding, for
every track capacity the tracker may grow to (`--config.tracker.max_tracks` doubling up to
`max_tracks_limit`), plus the weights and the tracker settings (thresholds as
`--config.tracker.*`, as for `track`). `--platforms` lists where it may run: an artifact lowered
for `cpu,cuda` (possible on a CPU-only machine) runs the xla path on CPU and the Pallas Triton
kernel on CUDA. `--dtype=bfloat16` runs the detector in bfloat16 inside each step (it sets
`config.model.dtype`; the weights, the track state and the results stay float32, the runner is the
same) and is recorded in the manifest. The format: `sambamotr_jax/formats/tracker_artifact.py`.
"""

from __future__ import annotations

import os
import time

from absl import flags
from ml_collections import config_flags

from sambamotr_jax import api
from sambamotr_jax.runtime import cli
from sambamotr_jax.tracking import step_export

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Converted checkpoint directory.")
_FRAME_SIZE = flags.DEFINE_multi_string(
    "frame_size", None, "HEIGHT,WIDTH of the frames to track, original pixels (repeatable)."
)
_PLATFORMS = flags.DEFINE_list("platforms", ["cpu"], "Platforms to lower for: cpu,cuda,...")
_DTYPE = flags.DEFINE_enum(
    "dtype",
    None,
    ["float32", "bfloat16"],
    "Detector compute dtype (sets config.model.dtype; default: the config's).",
)
_OUTPUT = flags.DEFINE_string("output", None, "Artifact file to write.")
flags.mark_flags_as_required(["config", "checkpoint", "frame_size", "output"])


def main(argv):
    del argv
    sizes = [step_export.parse_frame_size(s) for s in _FRAME_SIZE.value]
    config = _CONFIG.value
    if _DTYPE.value is not None:
        config.model.dtype = _DTYPE.value
    t0 = time.perf_counter()
    tracker = api.Tracker.from_checkpoint(config, _CHECKPOINT.value)
    manifest = step_export.export_tracker(
        config, tracker.variables, sizes, _OUTPUT.value, platforms=tuple(_PLATFORMS.value)
    )
    size_mb = os.path.getsize(_OUTPUT.value) / 2**20
    print(
        f"wrote {_OUTPUT.value} ({size_mb:.1f} MiB): {len(manifest['steps'])} steps "
        f"(inputs {sorted({tuple(s['input']) for s in manifest['steps']})} x capacities "
        f"{manifest['capacities']}) for {','.join(manifest['platforms'])}, {manifest['dtype']} "
        f"in {time.perf_counter() - t0:.0f} s"
    )


def run():
    """Console-script entry point (`sambamotr-export`)."""
    cli.run_absl(main, module="sambamotr_jax.export", doc=__doc__)


if __name__ == "__main__":
    run()
