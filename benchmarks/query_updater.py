"""Per-frame cost of the query updater: MeMOTR vs Samba at 10, 50 and 100 live tracks.

    python benchmarks/query_updater.py [--tracks 10 50 100] [--repeats 5]
        [--official SAMBA_REF_DIR --official-python REFVENV/bin/python --rounds 2]

Each updater runs jitted as the tracker runs it: in the capacity the tracker would use (32, 64,
128: the capacity doubles from `tracker.max_tracks` = 32), on the live slots rounded up
(`track_state.on_live_prefix`: 16, 64, 112 slots); and, for reference, on K = live tracks slots
(no padding). Random weights and inputs; the cost does not depend on their values.

`--official DIR` times the official Samba updater with
../shared/tools/official_cpu_timing/time_official_updater.py after each round of ours and prints
the ratio of the tracker's Samba update to it per round and their median, marked when the
machine was busy (benchmarks/side_by_side.py). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
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
from benchmarks.inference import machine  # noqa: E402
from configs import dancetrack, memotr_dancetrack  # noqa: E402
from sambamotr_jax import model as model_lib  # noqa: E402
from sambamotr_jax.runtime import malloc_pad  # noqa: E402
from sambamotr_jax.tracking.track_state import live_prefix_sizes, on_live_prefix  # noqa: E402


def live_prefix(n: int, capacity: int) -> int:
    """The slots the tracker's update runs on for n live tracks in `capacity` slots."""
    return min(s for s in live_prefix_sizes(capacity) if s >= n)


def bucket(n: int, start: int = 32) -> int:
    k = start
    while k < n:
        k *= 2
    return k


def time_updater(
    model, variables, capacity: int, live: int, repeats: int, cut: bool = False
) -> float:
    """Median seconds of one update of `live` tracks in `capacity` slots (`cut`: on the live
    slots rounded up, as the tracker's frame step runs it)."""
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

    def update(v, *a):
        if not cut:
            return model.apply(v, *a, method="update_queries")
        names = ("query_embed", "ref_pts", "output_embed", "boxes", "logits", "updater_state")
        tree = dict(zip(names, a[:-1]), live=a[-1])
        return on_live_prefix(
            lambda t: model.apply(v, **t, method="update_queries"), tree, a[-1].sum(), capacity
        )

    f = jax.jit(update)
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
    p.add_argument("--rounds", type=int, default=None, help="default 2 with --official, else 1")
    p.add_argument("--official", default=None, help="official SambaMOTR checkout")
    p.add_argument("--official-python", default=sys.executable)
    args = p.parse_args()
    malloc_pad.configure()  # may restart this script with glibc tunables, as the CLIs do
    before = side_by_side.load_report()
    rounds = args.rounds or (2 if args.official else 1)
    result = {"machine": machine(), "jax": jax.__version__, "ms": {}}
    samba_rounds = {n: [] for n in args.tracks}
    official_runs = []
    for r in range(rounds):
        for name, cfg in (("samba", dancetrack), ("memotr", memotr_dancetrack)):
            if r and name == "memotr":
                continue  # the official comparison is Samba's
            model = model_lib.build_model(cfg.get_config().model)
            variables = jax.jit(lambda m=model: model_lib.init_variables(m, jax.random.key(0)))()
            for n in args.tracks:
                cap = bucket(n)
                rows = [(f"K={cap} on {live_prefix(n, cap)} slots", cap, True)]
                if r == 0:
                    rows += [(f"K={k}", k, False) for k in sorted({n, cap})]
                for label, k, cut in rows:
                    ms = 1e3 * time_updater(model, variables, k, n, args.repeats, cut)
                    result["ms"].setdefault(f"{name} live={n} {label}", []).append(round(ms, 2))
                    if cut and name == "samba":
                        samba_rounds[n].append(ms)
                    # Each row as it comes (stderr), so a run cut short still reports what it did.
                    print(f"{name} live={n} {label}: {ms:.2f} ms", file=sys.stderr, flush=True)
        if args.official:
            official_runs.append(
                side_by_side.run_official(
                    "time_official_updater.py",
                    ["--tracks", *map(str, args.tracks)],
                    args.official_python,
                    args.official,
                    "SAMBA_REF_DIR",
                )
            )
    state = side_by_side.machine_state(before, side_by_side.load_report())
    result["load"] = state
    result["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES")
    if args.official:
        result["official"] = official_runs
        result["ratio_tracker_samba_over_official"] = {}
        for n in args.tracks:
            per_round = [
                ours / run["ms"][f"k={n}"] for ours, run in zip(samba_rounds[n], official_runs)
            ]
            result["ratio_tracker_samba_over_official"][f"{n} tracks"] = {
                "per_round": [round(x, 3) for x in per_round],
                "median": side_by_side.marked(side_by_side.median(per_round), state["busy"]),
            }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
