"""Convert an official PyTorch checkpoint into a Flax/Orbax checkpoint.

    python -m sambamotr_jax.convert --checkpoint=PATH.pth --config=configs/dancetrack.py --output=DIR

Reads an official SambaMOTR or MeMOTR checkpoint, or the COCO Deformable-DETR /
DAB-Deformable-DETR checkpoint (then the tracker's new parts, e.g. the query updater, must be
allowed to stay at their initialization: `--allow-missing=query_updater`). Prints every loaded,
missing, unexpected and mis-shaped key; exits non-zero when a parameter stays uninitialized
(unless `--allow-missing` names it by regular expression), when a key does not fit, or when a
checkpoint key has no parameter (unless `--allow-unexpected` names it). Loading never executes
code from the pickle.
"""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

from sambamotr_jax.runtime import cli
from sambamotr_jax.training import config_checks
from sambamotr_jax.weights import conversion

_CONFIG = config_flags.DEFINE_config_file("config", None, "Model config file.", lock_config=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Official PyTorch checkpoint (.pth).")
_OUTPUT = flags.DEFINE_string("output", None, "Output directory for the converted checkpoint.")
_ALLOW_MISSING = flags.DEFINE_multi_string(
    "allow-missing", [], "Regex of parameters that may stay at init (repeatable)."
)
_ALLOW_UNEXPECTED = flags.DEFINE_multi_string(
    "allow-unexpected", [], "Regex of checkpoint keys that may be ignored (repeatable)."
)
_CATEGORY = flags.DEFINE_integer(
    "category_id", 1, "COCO class row for a one-class head (1 person, 15 bird)."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the initialization of parameters left missing.")
flags.mark_flags_as_required(["config", "checkpoint", "output"])


def main(argv):
    del argv
    config = _CONFIG.value  # the config is read and checked before any file
    config_checks.check_config(config, ("model",))
    ok = conversion.convert(
        checkpoint=_CHECKPOINT.value,
        config=config,
        output=_OUTPUT.value,
        allow_missing=_ALLOW_MISSING.value,
        allow_unexpected=_ALLOW_UNEXPECTED.value,
        category_id=_CATEGORY.value,
        seed=_SEED.value,
        log=print,
    )
    sys.exit(0 if ok else 1)


def run():
    """Entry point of `sambamotr-convert` and `python -m sambamotr_jax.convert`."""
    cli.run_absl(main, module="sambamotr_jax.convert", doc=__doc__)


if __name__ == "__main__":
    run()
