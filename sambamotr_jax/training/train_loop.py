"""Training: `train_and_evaluate(config, workdir)`, the library behind `train.py`.

One readable main in sections: workdir and data, mesh, input, model and optimizer, sharded init
or restore, the jitted step, the loop (logging, checkpoints, evaluation, stopping).

Workdir layout:
    config.json                 the run's config (a restart with another config is refused)
    checkpoints/<step>/         Orbax checkpoints: TrainState + input iterator state
    metrics.jsonl, eval.jsonl   logged training scalars and evaluation scores (run_log.py)
    .lock                       held by the running run (workdir_lock.py: one run per workdir)
    tb/                         TensorBoard
    exports/step_<N>/           the parameters evaluated at step N, as a converted checkpoint
                                (eval.py / track.py take it as --checkpoint)
    eval/step_<N>/<split>/tracker/  tracking results and summary.json of that evaluation

Resume order: the latest checkpoint in the workdir, then `config.train.init_from` (a converted
checkpoint directory), then a fresh initialization from `config.seed`.
"""

from __future__ import annotations

import json
import logging
import math
import pathlib
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

import data_pipeline
from data_pipeline import dataset_layouts as data_files
from sambamotr_jax import model as model_lib
from sambamotr_jax.evaluation import split_eval as eval_lib
from sambamotr_jax.formats.atomic_write import write_text_atomic
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.runtime import mesh as mesh_lib
from sambamotr_jax.tracking import sequence_runner
from sambamotr_jax.training import clip_step as step_lib
from sambamotr_jax.training import config_checks, optimizer, run_checkpoints, run_log, workdir_lock
from sambamotr_jax.weights import converted_checkpoint

CONFIG_JSON = "config.json"

# Fields that may change between the runs of one workdir (paths, logging, stopping, evaluation).
RESTART_FIELDS = (
    "data.root",
    "data.prepared_dir",
    "data.num_workers",
    "train.max_steps",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.init_from",
    "model.ms_deform_attn_impl",
    "eval.",
    "tracker.",
)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the run stopped (its last good checkpoint is kept)."""


# ------------------------------------------------------------------------------------------------
# Workdir, data root and input.


def check_workdir(config, workdir: pathlib.Path) -> None:
    """Writes `config.json` into a new workdir; refuses a workdir that holds another config's run.

    Raises:
      InputError: the saved config differs in a field that changes the run.
    """
    path = workdir / CONFIG_JSON
    current = json.loads(config.to_json_best_effort())
    if path.exists():
        saved = json.loads(path.read_text())
        a, b = (traverse_util.flatten_dict(d, sep=".") for d in (saved, current))
        diffs = [
            f"{k}: workdir has {a.get(k, '<absent>')!r}, config has {b.get(k, '<absent>')!r}"
            for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and not k.startswith(RESTART_FIELDS)
        ]
        if diffs:
            raise InputError(
                f"{workdir} holds a run of another config:\n  "
                + "\n  ".join(diffs)
                + "\nUse a new --workdir for this config, or the config of that run to resume it."
            )
    if jax.process_index() == 0:
        write_text_atomic(path, [json.dumps(current, indent=1, sort_keys=True) + "\n"])


def data_root(config, workdir: pathlib.Path) -> str:
    """The folder holding the dataset folder; the synthetic dataset is generated when absent.

    Raises:
      InputError: a real dataset without `config.data.root`, or a root that does not exist.
    """
    key = data_files.canonical_name(config.data.dataset)
    if key == "synthetic":
        root = pathlib.Path(config.data.root or workdir / "data").absolute()
        if not pathlib.Path(data_files.dataset_dir(key, str(root))).is_dir():
            if jax.process_index() == 0:
                from data_pipeline import synthetic_mot  # noqa: PLC0415

                s = config.data.synthetic
                cfg = synthetic_mot.SyntheticConfig(
                    width=s.width,
                    height=s.height,
                    num_frames=s.num_frames,
                    object_height=tuple(s.object_height),
                    speed=tuple(s.speed),
                    splits=(("train", s.train_seqs), ("val", s.val_seqs)),
                    num_classes=config.model.num_classes,
                    seed=s.seed,
                )
                logging.info(
                    "Writing the synthetic dataset to %s", synthetic_mot.write_dataset(root, cfg)
                )
            _sync("synthetic data")
        return str(root)
    if not config.data.root:
        raise InputError(
            f"config.data.root is not set: pass --config.data.root=DIR, the folder that holds "
            f"{data_files.DATASET_DIRS[key]}/ (see data_pipeline/dataset_layouts.py for the layout)"
        )
    base = data_files.dataset_dir(key, config.data.root)
    if not pathlib.Path(base).is_dir():
        raise InputError(
            f"{base} not found: --config.data.root={config.data.root} must hold the "
            f"{data_files.DATASET_DIRS[key]}/ folder"
        )
    return config.data.root


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils  # noqa: PLC0415

        multihost_utils.sync_global_devices(name)


def input_configs(config):
    """`config.data` -> (SamplerConfig, AugmentConfig, PadConfig)."""
    d = config.data
    sampler = data_pipeline.SamplerConfig(
        sample_steps=tuple(d.sample_steps),
        sample_lengths=tuple(d.sample_lengths),
        sample_modes=tuple(d.sample_modes),
        sample_intervals=tuple(d.sample_intervals),
        use_crowdhuman=d.use_crowdhuman,
        mot17_join_epoch=d.mot17_join_epoch,
    )
    augment = data_pipeline.AugmentConfig(
        hflip_prob=d.hflip_prob,
        select_prob=d.select_prob,
        scales=tuple(d.scales),
        max_size=d.max_size,
        crop_resize_scales=tuple(d.crop_resize_scales),
        crop_min_size=d.crop_min_size,
        crop_max_size=d.crop_max_size,
        overflow_bbox=d.overflow_bbox,
        hsv_gains=tuple(d.hsv_gains),
        reverse_clip_prob=d.reverse_clip,
    )
    pad = data_pipeline.PadConfig(
        buckets=tuple(tuple(b) for b in d.pad_buckets),
        max_objects=d.max_objects,
        image_dtype=d.image_dtype,
    )
    return sampler, augment, pad


def build_input(config, root: str, local_batch: int) -> data_pipeline.grain_loader.TrainIterator:
    """This host's training batches (`local_batch` clips each) over all epochs."""
    sampler, augment, pad = input_configs(config)
    build = lambda: data_pipeline.build_train_iterator(
        config.data.dataset,
        root,
        sampler=sampler,
        augment=augment,
        pad=pad,
        batch_size=local_batch,
        seed=config.seed,
        shard=(jax.process_index(), jax.process_count()),
        num_workers=config.data.num_workers,
        num_epochs=config.train.epochs,
        prepared_dir=config.data.prepared_dir or None,
    )
    # Records are prepared on first use: by process 0, before the others open them.
    batches = build() if jax.process_index() == 0 else None
    _sync("training records prepared")
    return build() if batches is None else batches


# ------------------------------------------------------------------------------------------------
# State: init, converted weights, jitted step.


def _new_state(model, tx, variables, rng) -> step_lib.TrainState:
    return step_lib.TrainState.create(variables["params"], variables.get("buffers", {}), tx, rng)


def initial_state(config, model, tx, abstract_state, sharding, log):
    """The TrainState from `config.train.init_from` when set, else freshly initialized; built
    directly with the replicated sharding (no copy on one device first)."""
    init_rng, state_rng = jax.random.split(jax.random.PRNGKey(config.seed))
    out_shardings = jax.tree.map(lambda _: sharding, abstract_state)
    if not config.train.init_from:
        log(f"Initializing from scratch (seed {config.seed})")
        init = lambda: _new_state(model, tx, model_lib.init_variables(model, init_rng), state_rng)
        return jax.jit(init, out_shardings=out_shardings)()
    template = {"params": abstract_state.params, "buffers": abstract_state.buffers}
    try:
        variables = converted_checkpoint.load_variables(
            config.train.init_from, config.model.to_dict(), template
        )
    except (FileNotFoundError, ValueError) as err:
        raise InputError(
            f"--config.train.init_from={config.train.init_from}: {err}\nMake the checkpoint "
            "for this config with `python -m sambamotr_jax.convert --checkpoint=WEIGHTS.pth "
            "--config=<this config> --output=DIR` (COCO Deformable-DETR / DAB weights), or leave "
            "init_from empty to train from scratch."
        ) from err
    log(f"Initializing from the converted checkpoint {config.train.init_from}")
    make = lambda v: _new_state(model, tx, v, state_rng)
    return jax.jit(make, out_shardings=out_shardings)(variables)


class StepFunctions:
    """The jitted train step, compiled once per `ClipStepConfig` (it changes only at epochs where
    the official schedule changes: frozen frames, frozen detector, clip length)."""

    def __init__(self, model, tx, state_sharding, batch_sharding, metric_sharding):
        self.model, self.tx = model, tx
        self.shardings = (state_sharding, batch_sharding, metric_sharding)
        self._compiled = {}

    def __call__(self, cfg):
        if cfg not in self._compiled:
            state_sh, batch_sh, metric_sh = self.shardings

            def step(state, batch):
                state, metrics = step_lib.train_step(self.model, self.tx, state, batch, cfg)
                finite = [jnp.isfinite(x).all() for x in jax.tree.leaves(state.params)]
                return state, dict(metrics, params_finite=jnp.stack(finite).all())

            self._compiled[cfg] = jax.jit(
                step,
                in_shardings=(state_sh, batch_sh),
                out_shardings=(state_sh, metric_sh),
                donate_argnums=0,
            )
        return self._compiled[cfg]


# ------------------------------------------------------------------------------------------------
# Evaluation.


def eval_split(config, root: str) -> eval_lib.EvalSplit | None:
    """The split of periodic evaluation (`eval_lib.find_split`: the format eval.py would use,
    BDD100K for BDD100K and multi-class configs), None when evaluation is off.

    Raises:
      InputError: evaluation is on but the split is not there, or its interval does not fit
        the format (checked before training).
    """
    if not (config.eval.every_epochs or config.eval.every_steps):
        return None
    base = data_files.dataset_dir(data_files.canonical_name(config.data.dataset), root)
    try:
        split = eval_lib.find_split(config, config.eval.split, data_root=base)
        eval_lib.check_interval(split.result_format, config.eval.interval)
    except InputError as err:
        raise InputError(
            f"periodic evaluation: {err}; choose --config.eval.split, or turn evaluation off "
            "with --config.eval.every_epochs=0 --config.eval.every_steps=0"
        ) from err
    return split


def evaluate(
    config, state, step: int, workdir: pathlib.Path, split: eval_lib.EvalSplit
) -> dict[str, float]:
    """Tracks the eval split with the current parameters and scores it (on process 0).

    The parameters are written as a converted checkpoint `exports/step_<N>/` (what eval.py and
    track.py read), then `eval_lib.run_split` tracks and scores the split into
    `eval/step_<N>/<split>/tracker/` (summary.json). Returns the scores to log
    (`eval_lib.scalar_scores`: COMBINED HOTA... or mTETA, mHOTA...; {} when the split has no
    ground truth).
    """
    variables = {"params": mesh_lib.host_copy(state.params)}
    variables["buffers"] = mesh_lib.host_copy(state.buffers)
    if jax.process_index() != 0:
        return {}
    export = workdir / "exports" / f"step_{step}"
    if not (export / converted_checkpoint.MODEL_JSON).exists():
        converted_checkpoint.save_variables(export, variables, config.model.to_dict())
    scores = eval_lib.run_split(
        lambda: sequence_runner.make_track_fn(config, str(export)),
        split.split_dir,
        workdir / "eval" / f"step_{step}",
        **split.run_args(),
        interval=config.eval.interval,
        overwrite=True,
        progress=False,
    )
    if scores is None:
        return {}
    return eval_lib.scalar_scores(scores, split.result_format)


def eval_message(step: int, scores: dict[str, float]) -> str:
    """One log line: the headline scores first (mTETA, mHOTA for BDD100K; HOTA for MOT)."""
    keys = ("mTETA", "mHOTA") if "mTETA" in scores else ("HOTA",)
    head = ", ".join(f"{k} {scores[k]:.2f}" for k in keys)
    return f"step {step}: {head} ({scores})"


# ------------------------------------------------------------------------------------------------
# The loop.


class _StopRequest:
    """First Ctrl-C: finish the current step, save and stop; a second one interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no handler
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def first_non_finite(host: list[tuple[int, dict]]) -> tuple[int, str, float] | None:
    """The first (step, metric, value) among the fetched steps whose loss, gradient norm or
    parameters are not finite; None when all are."""
    for step, metrics in host:
        for name in ("total_loss", "loss", "grad_norm", "params_finite"):
            if name in metrics and not math.isfinite(float(metrics[name])):
                return step, name, float(metrics[name])
            if name == "params_finite" and name in metrics and not bool(metrics[name]):
                return step, "parameters", float("nan")
    return None


def _mean_scalars(host: list[tuple[int, dict]]) -> dict[str, float]:
    keys = host[-1][1].keys()
    keys = [k for k in keys if k != "params_finite"]
    out = {k: float(np.mean([np.asarray(m[k], np.float64) for _, m in host])) for k in keys}
    out.setdefault("loss", out.get("total_loss"))  # train_step names the total `total_loss`
    return out


def train_and_evaluate(config, workdir: str | pathlib.Path) -> dict:
    """Trains `config` in `workdir`, resuming it when it holds a checkpoint.

    Returns:
      {"step": last step, "loss": mean loss of the last logged interval, "eval": last scores}.

    Raises:
      InputError: an invalid config field (checked before anything is built), a workdir in use
        by another run, a missing data root, an init checkpoint that does not fit the model, a
        workdir holding a run of another config, no intact checkpoint, a failed save.
      NonFiniteLossError: the loss became NaN/inf (the message names the step).
    """
    config_checks.check_config(config)
    workdir = pathlib.Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    with workdir_lock.WorkdirLock(workdir):
        return _train(config, workdir)


def _train(config, workdir: pathlib.Path) -> dict:
    """`train_and_evaluate` in a workdir this process has locked."""
    log = lambda msg: logging.info("%s", msg)

    # Workdir and data.
    check_workdir(config, workdir)
    root = data_root(config, workdir)
    split = eval_split(config, root)

    # Mesh: one replica per device, the global batch split over the data axis.
    mesh = mesh_lib.make_mesh(config.mesh.data)
    replicated = mesh_lib.replicated(mesh)
    local_batch = config.train.batch_per_device * mesh_lib.local_data_devices(mesh)
    global_batch = config.train.batch_per_device * mesh.devices.size

    # Input (read and checked before anything is compiled).
    batches = build_input(config, root, local_batch)
    log(f"Mesh {dict(mesh.shape)}: {global_batch} clips per step ({local_batch} on this host)")
    plan = batches.plan
    epoch_offsets = [int(x) for x in plan.epoch_offsets]
    total_steps = epoch_offsets[-1]
    if total_steps == 0:
        raise InputError(
            f"{config.data.dataset} under {root} gives no training step of {global_batch} clips "
            "(too few sequences/frames for the clip length and batch)"
        )
    max_steps = min(config.train.max_steps or total_steps, total_steps)

    # Model and optimizer.
    model = model_lib.build_model(config.model)
    abstract_vars = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.PRNGKey(0)))
    # The lr schedule steps per epoch; epochs differ in length (clips per epoch change with the
    # sampling stage), so it takes the plan's batches of every epoch.
    tx = optimizer.make_optimizer(config, abstract_vars["params"], epoch_steps=plan.steps_per_epoch)
    abstract_state = jax.eval_shape(
        lambda: _new_state(model, tx, abstract_vars, jax.random.PRNGKey(0))
    )

    # Restore (the newest intact workdir checkpoint) or initialize (converted weights, or from
    # scratch). Killed runs' unfinished checkpoint folders go first (the workdir is locked).
    if jax.process_index() == 0:
        removed = run_checkpoints.remove_unfinished(workdir / "checkpoints")
        if removed:
            log(
                f"Removed unfinished checkpoints of an interrupted run: {[str(p) for p in removed]}"
            )
    _sync("unfinished checkpoints removed")
    ckpt = run_checkpoints.TrainCheckpointer(
        workdir / "checkpoints", keep=config.train.keep_checkpoints
    )
    restored = ckpt.restore_latest(
        run_checkpoints.abstract_with_sharding(abstract_state, replicated)
    )
    if restored is not None:
        latest, state, data_state = restored
        batches.set_state(data_state)
        log(f"Resumed from checkpoint {latest} in {ckpt.directory}")
    else:
        state = initial_state(config, model, tx, abstract_state, replicated, log)
    step = int(mesh_lib.host_copy(state.step))
    if step != batches.step:
        raise RuntimeError(f"checkpoint step {step} != input step {batches.step}")

    steps = StepFunctions(model, tx, replicated, mesh_lib.batch_sharded(mesh), replicated)
    logger = run_log.TrainLogger(workdir, total_steps=max_steps, start_step=step)
    pending: list[tuple[int, dict]] = []  # (step, device metrics) not yet fetched
    last_logged, last_eval = {}, {}
    tick, tick_step = time.perf_counter(), step

    def flush() -> None:
        """Fetches the metrics of the steps since the last flush, stops on NaN/inf, logs them."""
        nonlocal pending, last_logged, tick, tick_step
        if not pending:
            return
        host = jax.device_get(pending)
        pending = []
        bad = first_non_finite(host)
        if bad is not None:
            good = ckpt.latest_step()
            ckpt.wait()
            raise NonFiniteLossError(
                f"{bad[1]} is {bad[2]} at step {bad[0]}; training stopped. The last good "
                f"checkpoint is step {good} in {ckpt.directory} (lower --config.optim.lr, or "
                "check the data of that step)"
            )
        now = time.perf_counter()
        seconds = (now - tick) / max(host[-1][0] - tick_step, 1)
        scalars = _mean_scalars(host)
        scalars.update(step_time_s=seconds, clips_per_s=global_batch / seconds)
        scalars.update(run_log.device_memory())
        logger.write_train(host[-1][0], scalars)
        last_logged = scalars
        tick, tick_step = now, host[-1][0]

    def save() -> None:
        flush()  # never checkpoint a state that follows a NaN
        ckpt.save(step, state, batches.get_state())

    try:
        with _StopRequest() as stop:
            while step < max_steps and not stop.requested:
                local = next(batches)
                epoch = int(local["epoch"][0])
                cfg = step_lib.clip_step_config(config, epoch=epoch)
                batch = mesh_lib.global_batch(mesh, local)
                state, metrics = steps(cfg)(state, batch)
                step += 1
                pending.append((step, metrics))
                logger.advance()
                ckpt.check()  # a failed background save stops the run here

                epoch_end = step == epoch_offsets[epoch + 1]
                if step % config.train.log_every == 0 or epoch_end:
                    flush()
                if step % config.train.checkpoint_every == 0 or epoch_end:
                    save()
                every_epochs, every_steps = config.eval.every_epochs, config.eval.every_steps
                if split and (
                    (every_steps and step % every_steps == 0)
                    or (epoch_end and every_epochs and (epoch + 1) % every_epochs == 0)
                ):
                    last_eval = evaluate(config, state, step, workdir, split)
                    if last_eval:
                        logger.write_eval(step, last_eval)
                        logger.message(eval_message(step, last_eval))
            # The run stops (max_steps, the last epoch, Ctrl-C): log and save where it is.
            save()
            if stop.requested:
                logger.message(f"Stopped at step {step} (Ctrl-C); checkpoint saved")
    finally:
        batches.close()
        logger.close()
        ckpt.close()
    return {"step": step, "loss": last_logged.get("loss"), "eval": last_eval}
