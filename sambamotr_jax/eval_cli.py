r"""Evaluate a tracker: run a checkpoint over a dataset split and score it, or score result files.

Track and score a split (results in <workdir>/<split>/tracker/<seq>.txt, scores in
summary.json / summary.txt beside them; finished sequences are kept unless --overwrite):

  python eval.py --config=configs/dancetrack.py --checkpoint=DIR --split=val --workdir=OUT \
      [--config.data.root=DATA] [--interval=K] [--overwrite]

BDD100K (`config.data.dataset == 'BDD100K'` or any multi-class model, e.g. one trained on the
synthetic set with classes in gt column 8; --format chooses explicitly): every video is tracked
into the official result json <workdir>/<split>/tracker/<video>.json and MOT text with a class
column <video>.txt, then scored with TETA and HOTA/MOTA/IDF1 per class (summary.json: mTETA,
mLocA, mAssocA, mClsA, mHOTA, mMOTA, mIDF1); MOT-layout gt.txt is converted to BDD100K json in
<workdir>/<split>/gt_bdd100k/ first:

  python eval.py --config=configs/bdd100k.py --checkpoint=DIR --split=val --workdir=OUT \
      --config.data.root=DATA

Score existing MOT result files of any tracker (<tracker_dir>/<seq>.txt against
<gt_root>/<seq>/gt/gt.txt with <gt_root>/<seq>/seqinfo.ini):

  python eval.py --score --gt_root=DIR --tracker_dir=DIR [--seqmap=FILE] [--interval=K]

Score existing BDD100K json results (<tracker_dir>/<video>.json against <gt_root>/<video>.json,
e.g. labels/box_track_20/val; TETA, HOTA, MOTA, IDF1 into summary.json / summary.txt):

  python eval.py --score --format=bdd100k --gt_root=DIR --tracker_dir=DIR

--interval=K tracks and scores frames 1, 1+K, 1+2K, ... (the official EVAL_INTERVAL).
--streams=B tracks B sequences at once in one batched frame step (the same result files, each
written when its sequence ends; sequences of one frame size share a batch).
--devices=N tracks on N local devices of the process at once, one tracker each (with
--streams=B, B streams per device); the default is every local GPU/TPU, and one device on CPU.
Multi-process tracking: the same command in every process with --coordinator_address=HOST:PORT
--num_processes=N --process_id=I (or --multihost on a cluster); each tracks its share of the
sequences, process 0 scores them all.
A missing or malformed input stops with one line `eval.py: error: ...` (exit status 2; --debug
adds the traceback).

The repository's `eval.py`, `python -m sambamotr_jax.eval_cli` and the `sambamotr-eval` console
script all run `run()` (this module is not named eval.py: no two modules share a file name).
"""

from __future__ import annotations

from absl import app, flags
from ml_collections import config_flags

from sambamotr_jax.evaluation import split_eval, trackeval_scores
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.runtime import cli, distributed, malloc_pad

config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
flags.DEFINE_string("checkpoint", None, "Checkpoint directory to evaluate (tracking mode).")
flags.DEFINE_string("split", "val", "Dataset split to track (tracking mode).")
flags.DEFINE_string("workdir", None, "Output root; results go to <workdir>/<split>/tracker/.")
flags.DEFINE_integer("interval", None, "Frame interval (default: config.eval.interval, else 1).")
flags.DEFINE_integer(
    "streams",
    1,
    "Sequences tracked at once in one batched frame step (per process).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "devices",
    None,
    "Local devices that track this process's sequences at once, each with its own tracker "
    "(--streams per device). Default: every local device on GPU/TPU, 1 on CPU (forced host "
    "devices share the same cores: no faster, more memory).",
    lower_bound=1,
)
flags.DEFINE_bool("overwrite", False, "Track again sequences whose result file exists.")
flags.DEFINE_bool("progress", True, "Show a progress bar per sequence.")
flags.DEFINE_bool("score", False, "Only score existing result files (--gt_root, --tracker_dir).")
flags.DEFINE_string("gt_root", None, "Scoring mode: folder of <seq>/gt/gt.txt + seqinfo.ini.")
flags.DEFINE_string("tracker_dir", None, "Scoring mode: folder of <seq>.txt result files.")
flags.DEFINE_string("seqmap", None, "Scoring mode: seqmap file (default: every gt sequence).")
flags.DEFINE_enum(
    "format",
    None,
    ["mot", "bdd100k"],
    "Result format: MOT text or BDD100K json (default in tracking mode: bdd100k for "
    "config.data.dataset BDD100K or config.model.num_classes > 1, else mot).",
)

distributed.define_flags()  # --coordinator_address, --num_processes, --process_id, --multihost

FLAGS = flags.FLAGS


def build_track_fn(config, checkpoint_dir, devices=None):
    """The tracker of a checkpoint as `split_eval.TrackFn`, or `split_eval.StreamsTrackFn` with
    --streams > 1; with `devices`, one of them per device (imports the model only here)."""
    from sambamotr_jax.tracking import sequence_runner

    if devices is not None:
        return sequence_runner.make_device_track_fns(
            config, checkpoint_dir, devices, streams=FLAGS.streams
        )
    if FLAGS.streams > 1:
        return sequence_runner.make_streams_track_fn(config, checkpoint_dir)
    return sequence_runner.make_track_fn(config, checkpoint_dir)


def tracking_devices(requested: int | None) -> list:
    """The local devices that track (`--devices`): the first `requested` of
    `jax.local_devices()`; None: all of them on GPU/TPU, one on CPU (a CPU's forced host
    devices share its cores, so more of them only take more memory).

    Raises:
      InputError: more devices requested than the process has.
    """
    import jax

    local = jax.local_devices()
    if requested is None:
        requested = 1 if local[0].platform == "cpu" else len(local)
    if requested > len(local):
        raise InputError(
            f"--devices={requested}, but this process has {len(local)}: "
            f"{', '.join(map(str, local))}"
        )
    return local[:requested]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    malloc_pad.configure()  # huge pages and a top pad for XLA:CPU's buffers (may restart)
    distributed.initialize_from_flags()  # several processes: each tracks its share of the split
    if FLAGS.score:
        if not FLAGS.gt_root or not FLAGS.tracker_dir:
            raise app.UsageError("--score needs --gt_root and --tracker_dir")
        if FLAGS.format == "bdd100k":
            if FLAGS.seqmap or FLAGS.interval not in (None, 1):
                raise app.UsageError(
                    "--format=bdd100k scores every <video>.json of --gt_root at every frame; "
                    "--seqmap and --interval are for MOT results"
                )
            scores = split_eval.score_bdd100k_results(FLAGS.gt_root, FLAGS.tracker_dir)
            print(trackeval_scores.format_bdd100k_table(scores.summary), end="")
            return
        scores = split_eval.score_results(
            FLAGS.gt_root, FLAGS.tracker_dir, seqmap=FLAGS.seqmap, interval=FLAGS.interval or 1
        )
    else:
        if FLAGS.config is None or not FLAGS.checkpoint or not FLAGS.workdir:
            raise app.UsageError("tracking needs --config, --checkpoint and --workdir (or --score)")
        result_format = FLAGS.format
        if result_format is None:
            result_format = split_eval.default_result_format(FLAGS.config)
        devices, workers, build = tracking_devices(FLAGS.devices), None, build_track_fn
        if len(devices) > 1:
            workers = [str(d) for d in devices]
            build = lambda config, checkpoint_dir: build_track_fn(config, checkpoint_dir, devices)
        scores = split_eval.evaluate_checkpoint(
            FLAGS.config,
            FLAGS.checkpoint,
            split=FLAGS.split,
            workdir=FLAGS.workdir,
            build_track_fn=build,
            interval=FLAGS.interval,
            overwrite=FLAGS.overwrite,
            progress=FLAGS.progress,
            result_format=result_format,
            streams=FLAGS.streams,
            workers=workers,
        )
        if result_format == "bdd100k":
            if scores is not None:
                print(trackeval_scores.format_bdd100k_table(scores.summary), end="")
            return
    if scores is not None:
        print(trackeval_scores.format_table(scores.summary), end="")


def run():
    """Entry point of `eval.py`, `sambamotr-eval` and `python -m sambamotr_jax.eval_cli`."""
    cli.run_absl(main, module="sambamotr_jax.eval_cli", doc=__doc__)


if __name__ == "__main__":
    run()
