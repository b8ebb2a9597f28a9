r"""Train SambaMOTR / MeMOTR: flags -> `train_loop.train_and_evaluate(config, workdir)`.

  python train.py --config=configs/synthetic.py --workdir=runs/synthetic
  sambamotr-train --config=configs/synthetic.py --workdir=runs/synthetic   # the same
  python train.py --config=configs/dancetrack.py --workdir=runs/dancetrack \
      --config.data.root=DATA --config.train.init_from=converted/deformable_detr

Any config field can be set with --config.<field>=VALUE (a typo is an error). Running the same
command again resumes from the last checkpoint in --workdir; --config.train.max_steps=N stops
after N steps in all. Ctrl-C saves a checkpoint and stops. Multi-process: the same command on
every host with --coordinator_address=HOST:PORT --num_processes=N --process_id=I, or --multihost
on a cluster (SLURM, Open MPI, Kubernetes, Cloud TPU); see runtime/distributed.py.
A bad input (a malformed data file, a workdir of another config) or a non-finite loss stops the
run with one line `train.py: error: ...` (--debug adds the traceback); --verbosity=1 shows the
libraries' INFO logs.

The repository's `train.py`, `python -m sambamotr_jax.train_cli` and the `sambamotr-train`
console script all run `run()` (this module is not named train.py: no two modules share a
file name).
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from sambamotr_jax.runtime import cli, distributed

config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory: checkpoints, logs, evaluations.")
distributed.define_flags()  # --coordinator_address, --num_processes, --process_id, --multihost
flags.mark_flags_as_required(["config", "workdir"])

FLAGS = flags.FLAGS
_MODULE = "sambamotr_jax.train_cli"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from sambamotr_jax.runtime import malloc_pad

    malloc_pad.configure()  # huge pages and a top pad for XLA:CPU's buffers (may restart)
    distributed.initialize_from_flags()  # before anything touches a device
    from sambamotr_jax.training import train_loop

    if not cli.asks_for_verbosity(sys.argv):
        logging.set_verbosity(logging.INFO)  # the run's own progress lines
    try:
        result = train_loop.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except train_loop.NonFiniteLossError as err:
        raise cli.Failure(str(err)) from err
    logging.info("Done: %s", result)


def run():
    """Entry point of `train.py`, `sambamotr-train` and `python -m sambamotr_jax.train_cli`."""
    cli.run_absl(main, module=_MODULE, doc=__doc__)


if __name__ == "__main__":
    run()
