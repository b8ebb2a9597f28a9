"""Per-frame cost of the query updater: MeMOTR vs Samba at 10, 50 and 100 live tracks.

    python benchmarks/query_updater.py [--tracks 10 50 100] [--repeats 5]

Each updater runs jitted on K = live tracks slots (no padding) and on the capacity bucket the
tracker would use (32, 64, 128: the adaptive capacity doubles from 32). Random weights and
inputs; the cost does not depend on their values. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.inference import machine  # noqa: E402
from configs import dancetrack, memotr_dancetrack  # noqa: E402
from sambamotr_jax import model as model_lib  # noqa: E402


def bucket(n: int, start: int = 32) -> int:
    k = start
    while k < n:
        k *= 2
    return k


def time_updater(model, variables, capacity: int, live: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    c = model.detector.hidden_dim
    args = (
        jnp.asarray(rng.normal(size=(capacity, model.query_dim)), jnp.float32),
        jnp.asarray(rng.normal(size=(capacity, 4)), jnp.float32),
        jnp.asarray(rng.normal(size=(capacity, c)), jnp.float32),
        jnp.asarray(rng.uniform(0.1, 0.9, size=(capacity, 4)), jnp.float32),
        jnp.asarray(rng.normal(size=(capacity, 1)), jnp.float32),
        {
            n: jnp.asarray(rng.normal(size=(capacity, *s)), jnp.float32)
            for n, s in model.updater_state_shapes().items()
        },
        jnp.arange(capacity) < live,
    )
    f = jax.jit(lambda v, *a: model.apply(v, *a, method="update_queries"))
    jax.block_until_ready(f(variables, *args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(variables, *args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tracks", nargs="+", type=int, default=[10, 50, 100])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    result = {"machine": machine(), "jax": jax.__version__, "ms": {}}
    for name, cfg in (("samba", dancetrack), ("memotr", memotr_dancetrack)):
        model = model_lib.build_model(cfg.get_config().model)
        variables = jax.jit(lambda m=model: model_lib.init_variables(m, jax.random.key(0)))()
        for n in args.tracks:
            for cap in sorted({n, bucket(n)}):
                ms = 1e3 * time_updater(model, variables, cap, n, args.repeats)
                result["ms"][f"{name} live={n} K={cap}"] = round(ms, 2)
                # Each row as it comes (stderr), so a run cut short still reports what it did.
                print(f"{name} live={n} K={cap}: {ms:.2f} ms", file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
