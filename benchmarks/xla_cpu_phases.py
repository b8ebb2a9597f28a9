"""Does XLA:CPU on this machine run matrix products in two speed phases? A check before timing.

    python benchmarks/xla_cpu_phases.py [--seconds 60] [--block-seconds 2]

Alternates blocks of the same work in XLA (jitted, all of the process's threads) and in NumPy
(its BLAS, same threads): a chain of 20 residual MLP blocks x + relu(x W1) W2 over (1872, 256)
tokens with a 1024-wide hidden layer, the shape of the 256x352 frame's encoder FFN. Each block
reports its fastest and median run. On a machine where XLA:CPU switches phases
(docs/benchmarks.md, "XLA:CPU's two phases") the XLA column moves between two levels while
NumPy's stays; a frame-time comparison on such a machine should give each round's fastest frame
beside its median (benchmarks/inference.py does). Prints one markdown table and a summary line.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import side_by_side  # noqa: E402

TOKENS, WIDTH, HIDDEN, LAYERS = 1872, 256, 1024, 20


def mlp_chain(x, w1, w2, xp=jnp):
    """x (T, C) -> (T, C): LAYERS residual blocks x + relu(x @ w1) @ w2, w1 (C, H), w2 (H, C);
    `xp` is jax.numpy (jitted) or numpy."""
    for _ in range(LAYERS):
        x = x + xp.maximum(x @ w1, 0.0) @ w2
    return x


def time_block(run, seconds: float) -> list[float]:
    """Milliseconds of each run of `run()` for about `seconds`."""
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or not times:
        t0 = time.perf_counter()
        run()
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="total time, both sides")
    p.add_argument("--block-seconds", type=float, default=2.0, help="one side's time per block")
    args = p.parse_args()
    before = side_by_side.load_report()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(TOKENS, WIDTH)).astype(np.float32)
    w1 = (rng.normal(size=(WIDTH, HIDDEN)) * 0.03).astype(np.float32)
    w2 = (rng.normal(size=(HIDDEN, WIDTH)) * 0.03).astype(np.float32)
    xla = jax.jit(mlp_chain)
    xj, w1j, w2j = (jnp.asarray(a) for a in (x, w1, w2))
    xla(xj, w1j, w2j).block_until_ready()
    mlp_chain(x, w1, w2, np)
    gflop = LAYERS * 2 * 2 * TOKENS * WIDTH * HIDDEN / 1e9
    print(f"# jax {jax.__version__}, numpy {np.__version__}; {gflop:.1f} GFLOP per run")
    print("| block | XLA fastest, median ms | NumPy fastest, median ms |")
    print("|---|---|---|")
    xla_medians, np_medians = [], []
    blocks = max(1, int(args.seconds / (2 * args.block_seconds)))
    for i in range(blocks):
        t_xla = time_block(lambda: xla(xj, w1j, w2j).block_until_ready(), args.block_seconds)
        t_np = time_block(lambda: mlp_chain(x, w1, w2, np), args.block_seconds)
        xla_medians.append(statistics.median(t_xla))
        np_medians.append(statistics.median(t_np))
        print(
            f"| {i} | {min(t_xla):.0f}, {xla_medians[-1]:.0f} | {min(t_np):.0f}, {np_medians[-1]:.0f} |"
        )
    state = side_by_side.machine_state(before, side_by_side.load_report())

    def spread(values):
        return max(values) / min(values)

    print(
        f"\n# block medians, slowest / fastest: XLA {spread(xla_medians):.2f}, "
        f"NumPy {spread(np_medians):.2f}; load before {state['before']}, after {state['after']}, "
        f"busy: {state['busy']}"
    )


if __name__ == "__main__":
    main()
