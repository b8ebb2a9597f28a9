"""Time the two exact assignment paths of the criterion's matcher on realistic sizes.

    python benchmarks/matcher.py [--queries 300] [--objects 5 10 20 50] [--layers 6] [--repeats 50]

For each number of objects M: the jitted cost (300 detection queries x M objects, ~90% of them
valid) plus the assignment, once for one matrix and once for `--layers` matrices (the criterion
matches the final and the 5 auxiliary decoder layers of a frame together), with

  scipy : `linear_sum_assignment_padded` (scipy on the valid sub-matrix through pure_callback;
          one host call for all layers),
  jax   : `linear_sum_assignment_jax` (exact shortest augmenting path on device; vmapped over
          layers).

Prints median and minimum milliseconds per call (after compilation) and checks both give the same assignment.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from sambamotr_jax.training import matcher


def _inputs(rng, layers, queries, objects):
    cxcy = rng.uniform(0.1, 0.9, size=(layers, queries, 2))
    wh = rng.uniform(0.02, 0.3, size=(layers, queries, 2))
    pred_boxes = np.concatenate([cxcy, wh], -1).astype(np.float32)
    pred_logits = rng.normal(-2.0, 1.5, size=(layers, queries, 1)).astype(np.float32)
    gt_cxcy = rng.uniform(0.1, 0.9, size=(objects, 2))
    gt_wh = rng.uniform(0.02, 0.3, size=(objects, 2))
    gt_boxes = np.concatenate([gt_cxcy, gt_wh], -1).astype(np.float32)
    col_valid = rng.random(objects) < 0.9
    col_valid[0] = True
    return pred_logits, pred_boxes, gt_boxes, col_valid


def _make(solver):
    def run(pred_logits, pred_boxes, gt_boxes, col_valid):
        labels = jnp.zeros(gt_boxes.shape[:1], jnp.int32)
        cost = jax.vmap(
            lambda lg, bx: matcher.match_cost(
                pred_logits=lg,
                pred_boxes=bx,
                gt_labels=labels,
                gt_boxes=gt_boxes,
                cost_class=2.0,
                cost_bbox=5.0,
                cost_giou=2.0,
            )
        )(pred_logits, pred_boxes)  # (layers, N, M)
        row_valid = jnp.ones(cost.shape[:2], bool)
        cols = jnp.broadcast_to(col_valid, cost.shape[::2])
        if solver == "scipy":
            return matcher.linear_sum_assignment_padded(cost, row_valid, cols)
        return jax.vmap(matcher.linear_sum_assignment_jax)(cost, row_valid, cols)

    return jax.jit(run)


def _time(fn, args, repeats):
    """(median, min) milliseconds per call after compilation."""
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times)), 1e3 * float(np.min(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--objects", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()})")
    print("milliseconds per call, median / min")
    print(f"{'objects':>7} {'layers':>6} {'scipy':>15} {'jax':>15}")
    rng = np.random.default_rng(0)
    fns = {name: _make(name) for name in ("scipy", "jax")}
    for objects in args.objects:
        for layers in sorted({1, args.layers}):
            inputs = tuple(map(jnp.asarray, _inputs(rng, layers, args.queries, objects)))
            a = np.asarray(fns["scipy"](*inputs))
            b = np.asarray(fns["jax"](*inputs))
            if not (a == b).all():
                print(f"  assignments differ at {objects} objects")
            t_scipy = _time(fns["scipy"], inputs, args.repeats)
            t_jax = _time(fns["jax"], inputs, args.repeats)
            print(
                f"{objects:>7} {layers:>6} {t_scipy[0]:>7.3f} /{t_scipy[1]:>6.3f} "
                f"{t_jax[0]:>7.3f} /{t_jax[1]:>6.3f}"
            )


if __name__ == "__main__":
    main()
