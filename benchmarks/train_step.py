"""Time and memory of one jitted training step (clip loss, gradient, optimizer update).

    python benchmarks/train_step.py --size 800 1440 --frames 10 [--remat] [--dtype bfloat16]
        [--config configs/dancetrack.py] [--batch 1] [--capacity 64] [--steps 3] [--keep-ffn] [--keep-encoder]
        [--malloc-default] [--encoder {config,clip,frame}]

`--steps 0` compiles and reports XLA's memory figure without running (big sizes on a CPU).

DanceTrack training clips are 10 frames (SAMPLE_LENGTHS [10] in the longer yaml) resized to a
shorter side of 800 (max 1536): `--size 800 1440` is that size. Weights are randomly initialized
and the ground truth is synthetic (8 objects drifting); every shape is static, so the time does not
depend on their values. The memory figure is XLA's buffer assignment of the compiled step
(arguments + outputs + temporaries - aliased, `compiled.memory_analysis()`), which exists on CPU
and GPU; on a GPU the device's peak bytes in use are printed too. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import pathlib
import sys
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sambamotr_jax import model as model_lib  # noqa: E402
from sambamotr_jax.runtime import malloc_pad  # noqa: E402
from sambamotr_jax.training import clip_step as TS  # noqa: E402
from sambamotr_jax.training import criterion as C  # noqa: E402
from sambamotr_jax.training import optimizer as O  # noqa: E402


def load_config(path: str):
    spec = importlib.util.spec_from_file_location("bench_config", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def add_recompute_flags(p: argparse.ArgumentParser) -> None:
    """--keep-ffn / --keep-encoder: turn the config's training recompute off (see apply_...)."""
    p.add_argument(
        "--keep-ffn",
        action="store_true",
        help="keep the FFN hidden activations (model.recompute_ffn=False)",
    )
    p.add_argument(
        "--keep-encoder",
        action="store_true",
        help="keep the encoder's cheap tensors and the decoder's values "
        "(model.recompute_encoder=False)",
    )


def apply_recompute_flags(config, args: argparse.Namespace) -> None:
    """Without the flags the config's own settings stay (the small configs recompute nothing)."""
    if args.keep_ffn:
        config.model.recompute_ffn = False
    if args.keep_encoder:
        config.model.recompute_encoder = False


def synthetic_batch(batch: int, frames: int, h: int, w: int, objects: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    start = rng.uniform(0.2, 0.7, size=(batch, 1, objects, 2))
    drift = 0.01 * np.arange(frames)[None, :, None, None]
    size = rng.uniform(0.05, 0.2, size=(batch, 1, objects, 2))
    boxes = np.concatenate(
        [start + drift, np.broadcast_to(size, (batch, frames, objects, 2))], -1
    ).astype(np.float32)  # (B, T, M, 4)
    return {
        "images": rng.normal(size=(batch, frames, h, w, 3)).astype(np.float32),
        "pad_mask": np.zeros((batch, frames, h, w), bool),
        "boxes": boxes,
        "ids": np.broadcast_to(np.arange(objects, dtype=np.int32), (batch, frames, objects)).copy(),
        "labels": np.zeros((batch, frames, objects), np.int32),
        "obj_mask": np.ones((batch, frames, objects), bool),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "dancetrack.py"))
    p.add_argument("--size", nargs=2, type=int, default=(800, 1440), metavar=("H", "W"))
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--capacity", type=int, default=64)
    p.add_argument("--remat", action="store_true")
    add_recompute_flags(p)
    p.add_argument("--no-grad-frames", type=int, default=0)
    p.add_argument(
        "--encoder",
        choices=("config", "clip", "frame"),
        default="config",
        help="backbone + encoder over the whole clip at once or frame by frame "
        "(ClipStepConfig.encode_clip_at_once; default: the config's train.encode_clip_at_once; "
        "--remat implies frame)",
    )
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--steps", type=int, default=3)
    p.add_argument(
        "--attn-impl",
        default="",
        choices=("", "xla", "pallas"),
        help="model.ms_deform_attn_impl; 'pallas' on a CPU compiles the kernel in interpret mode "
        "(with --steps 0: the memory figure without the xla path's gather temporaries)",
    )
    p.add_argument(
        "--malloc-default",
        action="store_true",
        help="leave glibc malloc's settings alone (the entry scripts ask for huge pages and a "
        "top pad: sambamotr_jax/runtime/malloc_pad.py)",
    )
    args = p.parse_args()
    if not args.malloc_default:
        malloc_pad.configure()  # may restart this script with glibc tunables, as the CLIs do
    top_pad = os.environ.get("GLIBC_TUNABLES")

    config = load_config(args.config)
    apply_recompute_flags(config, args)
    config.model.ms_deform_attn_impl = args.attn_impl
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    m = config.model
    criterion = C.CriterionConfig(
        num_classes=m.num_classes,
        num_det_queries=m.num_det_queries,
        aux_loss_weights=(1.0,) * (m.dec_layers - 1),
        update_threshold=m.update_thresh,
    )
    cfg = TS.ClipStepConfig(
        track_capacity=args.capacity,
        criterion=criterion,
        no_grad_frames=args.no_grad_frames,
        remat=args.remat,
        compute_dtype=args.dtype,
        encode_clip_at_once=not args.remat
        and (
            args.encoder == "clip"
            or (args.encoder == "config" and config.train.encode_clip_at_once)
        ),
    )
    tx = O.make_optimizer(config, variables["params"], steps_per_epoch=1000)  # schedule only
    state = TS.TrainState.create(variables["params"], variables["buffers"], tx, jax.random.key(1))
    batch = synthetic_batch(args.batch, args.frames, *args.size)
    step = jax.jit(functools.partial(TS.train_step, model, tx, cfg=cfg), donate_argnums=0)

    t0 = time.perf_counter()
    compiled = step.lower(state, batch).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    xla_bytes = None
    if mem is not None:
        xla_bytes = (
            mem.argument_size_in_bytes
            + mem.output_size_in_bytes
            + mem.temp_size_in_bytes
            - mem.alias_size_in_bytes
        )
    times, metrics = [], None
    for i in range(args.steps + 1 if args.steps else 0):  # --steps 0: compile and memory only
        t0 = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics["total_loss"])
        if i:  # the first call pays one-time transfers
            times.append(time.perf_counter() - t0)
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    result = {
        "device": f"{dev.platform}:{dev.device_kind}",
        "config": pathlib.Path(args.config).name,
        "size": list(args.size),
        "frames": args.frames,
        "batch": args.batch,
        "capacity": args.capacity,
        "remat": args.remat,
        "encode_clip_at_once": cfg.encode_clip_at_once,
        "recompute_ffn": config.model.recompute_ffn,
        "recompute_encoder": config.model.recompute_encoder,
        "attn_impl": args.attn_impl or "default",
        "dtype": args.dtype,
        "no_grad_frames": args.no_grad_frames,
        "glibc_tunables": top_pad,
        "compile_s": round(compile_s, 1),
        "step_s": [round(t, 3) for t in times],
        "step_s_min": round(min(times), 3) if times else None,
        "xla_memory_mb": round(xla_bytes / 2**20, 1) if xla_bytes is not None else None,
        "xla_temp_mb": round(mem.temp_size_in_bytes / 2**20, 1) if mem is not None else None,
        "device_peak_mb": round(stats["peak_bytes_in_use"] / 2**20, 1)
        if stats and "peak_bytes_in_use" in stats
        else None,
        "loss": float(metrics["total_loss"]) if metrics else None,
        "grad_norm": float(metrics["grad_norm"]) if metrics else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
