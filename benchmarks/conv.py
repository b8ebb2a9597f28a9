"""XLA's convolution against `sambamotr_jax.nn.small_map_conv.patches_conv` on small maps, and what it buys.

    python benchmarks/small_map_conv.py [--repeats 8]

Part 1 times single convolutions (forward, and forward + gradients of input and kernel) of
resnet18's layers on an 80x60 frame, both ways. Part 2 compiles the synthetic config's training
step twice in one process, with `PATCHES_MAX_PIXELS` 0 (XLA's convolution everywhere) and with
the default, and times them alternately (5 steps each, `--repeats` rounds). Prints JSON lines.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.train_step import load_config, synthetic_batch  # noqa: E402
from sambamotr_jax import model as model_lib  # noqa: E402
from sambamotr_jax.nn import small_map_conv  # noqa: E402
from sambamotr_jax.training import clip_step as TS  # noqa: E402
from sambamotr_jax.training import criterion as C  # noqa: E402
from sambamotr_jax.training import optimizer as O  # noqa: E402

# (name, input (B, H, W, Cin), Cout, kernel, stride): resnet18 on an 80x60 frame, one frame.
LAYERS = (
    ("layer1 3x3", (1, 15, 20, 64), 64, 3, 1),
    ("layer2 3x3", (1, 8, 10, 128), 128, 3, 1),
    ("layer3 3x3", (1, 4, 5, 256), 256, 3, 1),
    ("layer4 3x3", (1, 2, 3, 512), 512, 3, 1),
    ("layer4_0 3x3 /2", (1, 4, 5, 256), 512, 3, 2),
)


def _median_ms(fn, *args, n: int = 20) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return round(1e3 * float(np.median(times)), 3)


def single_convs() -> None:
    for name, shape, cout, k, s in LAYERS:
        x = jax.random.normal(jax.random.key(0), shape)
        w = 0.01 * jax.random.normal(jax.random.key(1), (k, k, shape[-1], cout))
        pad = ((k // 2, k // 2),) * 2

        def xla(x, w, s=s, pad=pad):
            return jax.lax.conv_general_dilated(
                x, w, (s, s), pad, dimension_numbers=("NHWC", "HWIO", "NHWC")
            )

        def patches(x, w, s=s, pad=pad):
            return small_map_conv.patches_conv(x, w, (s, s), pad)

        row = {"conv": name, "input": list(shape), "cout": cout}
        for label, f in (("xla", xla), ("patches", patches)):
            row[f"{label}_fwd_ms"] = _median_ms(jax.jit(f), x, w)
            grad = jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1)))
            row[f"{label}_fwd_bwd_ms"] = _median_ms(grad, x, w)
        print(json.dumps(row))


def train_steps(repeats: int) -> None:
    config = load_config(str(ROOT / "configs" / "synthetic.py"))
    m = config.model
    cfg = TS.ClipStepConfig(
        track_capacity=config.train.track_capacity,
        criterion=C.CriterionConfig(
            num_classes=m.num_classes,
            num_det_queries=m.num_det_queries,
            aux_loss_weights=tuple(config.loss.aux_weights),
            update_threshold=m.update_thresh,
        ),
    )
    batch = synthetic_batch(1, 3, 60, 80)
    default = small_map_conv.PATCHES_MAX_PIXELS
    runs = {}
    for label, limit in (("xla_conv", 0), ("patches", default)):
        small_map_conv.PATCHES_MAX_PIXELS = limit  # read while tracing
        model = model_lib.build_model(m)
        variables = jax.jit(
            lambda model=model: model_lib.init_variables(model, jax.random.key(0))
        )()
        tx = O.make_optimizer(config, variables["params"], steps_per_epoch=1000)
        state = TS.TrainState.create(
            variables["params"], variables["buffers"], tx, jax.random.key(1)
        )
        step = jax.jit(functools.partial(TS.train_step, model, tx, cfg=cfg), donate_argnums=0)
        compiled = step.lower(state, batch).compile()
        hlo = compiled.as_text()
        for _ in range(3):
            state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
        runs[label] = {
            "step": compiled,
            "state": state,
            "times": [],
            "hlo_convs": hlo.count(" convolution("),
        }
    small_map_conv.PATCHES_MAX_PIXELS = default
    for _ in range(repeats):
        for run in runs.values():
            for _ in range(5):
                t0 = time.perf_counter()
                run["state"], metrics = run["step"](run["state"], batch)
                jax.block_until_ready(metrics)
                run["times"].append(time.perf_counter() - t0)
    med = {k: float(np.median(r["times"])) for k, r in runs.items()}
    print(
        json.dumps(
            {
                "train_step": "configs/synthetic.py, 3 frames of 60x80",
                "device": str(jax.devices()[0].device_kind),
                **{f"{k}_median_s": round(v, 4) for k, v in med.items()},
                **{f"{k}_hlo_convolutions": r["hlo_convs"] for k, r in runs.items()},
                "speedup": round(med["xla_conv"] / med["patches"], 2),
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=8)
    args = p.parse_args()
    single_convs()
    train_steps(args.repeats)


if __name__ == "__main__":
    main()
