"""Hungarian matcher of the official SambaMOTR / MeMOTR criterion, on padded arrays.

The official `HungarianMatcher` (models/matcher.py) builds, without gradient,

    C = cost_bbox * L1(pred, gt) + cost_class * focal_class_cost + cost_giou * (-GIoU(pred, gt))

for the detection queries of one image against a set of ground-truth objects and solves it with
`scipy.optimize.linear_sum_assignment`. Here the ground truth is padded to a fixed capacity with
a validity mask, so the cost matrix has a static shape; the assignment is solved on the host on
exactly the valid sub-matrix (the same float64 problem the official code hands to scipy, so the
same tie-breaking), through `jax.pure_callback`.

`linear_sum_assignment_jax` is an exact on-device solver (the shortest-augmenting-path algorithm
scipy uses, with its tie-breaking), selectable in the criterion config; benchmarks/matcher.py
measures both. The criterion defaults to the scipy callback: it solves the very float64 problem the
official code solves, so the matching is the official one by construction, and a host round trip
of a (layers, 300, M) cost matrix is cheap next to a training step. The on-device solver is a
sequential chain of about M * (M + 1) tiny while-loop steps: competitive on CPU, expected to be
launch-bound on a GPU (not measured here: no accelerator was available to this work).

Assignments are returned per row (query): `row_to_col[i]` = the object matched to query i, or -1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from sambamotr_jax.nn import box_ops


def focal_class_cost(
    pred_logits: jax.Array,
    gt_labels: jax.Array,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> jax.Array:
    """The official focal classification cost.

    Args:
      pred_logits: (N, C) logits.
      gt_labels: (M,) int class index of each object, in [0, C).

    Returns:
      (N, M) `pos_cost[:, label] - neg_cost[:, label]`.
    """
    prob = jax.nn.sigmoid(pred_logits)  # (N, C)
    neg = (1.0 - alpha) * prob**gamma * (-jnp.log(1.0 - prob + 1e-8))
    pos = alpha * (1.0 - prob) ** gamma * (-jnp.log(prob + 1e-8))
    return jnp.take(pos - neg, gt_labels, axis=1)  # (N, M)


def match_cost(
    *,
    pred_logits: jax.Array,
    pred_boxes: jax.Array,
    gt_labels: jax.Array,
    gt_boxes: jax.Array,
    cost_class: float,
    cost_bbox: float,
    cost_giou: float,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> jax.Array:
    """Official matching cost, without gradient.

    Args:
      pred_logits: (N, C) detection-query logits.
      pred_boxes: (N, 4) normalized cxcywh.
      gt_labels: (M,) int labels (padded entries: any valid class index).
      gt_boxes: (M, 4) normalized cxcywh (padded entries: any box with positive size).

    Returns:
      (N, M) cost; entries of padded objects are meaningless and must be masked by the solver.
    """
    pred_logits = jax.lax.stop_gradient(pred_logits)
    pred_boxes = jax.lax.stop_gradient(pred_boxes)
    c_class = focal_class_cost(pred_logits, gt_labels, alpha=alpha, gamma=gamma)
    c_bbox = jnp.abs(pred_boxes[:, None, :] - gt_boxes[None, :, :]).sum(-1)  # (N, M), cdist p=1
    c_giou = -box_ops.generalized_box_iou(
        box_ops.box_cxcywh_to_xyxy(pred_boxes), box_ops.box_cxcywh_to_xyxy(gt_boxes)
    )
    return cost_bbox * c_bbox + cost_class * c_class + cost_giou * c_giou


def _scipy_assign_host(
    cost: np.ndarray, row_valid: np.ndarray, col_valid: np.ndarray
) -> np.ndarray:
    """Host side: scipy on the valid sub-matrix of each (leading-dims) problem."""
    cost = np.asarray(cost)
    row_valid = np.asarray(row_valid)
    col_valid = np.asarray(col_valid)
    batch = cost.shape[:-2]
    out = np.full(batch + cost.shape[-2:-1], -1, dtype=np.int32)
    for b in np.ndindex(*batch):
        rows = np.flatnonzero(row_valid[b])
        cols = np.flatnonzero(col_valid[b])
        if rows.size == 0 or cols.size == 0:
            continue
        sub = cost[b][np.ix_(rows, cols)].astype(np.float64)
        r, c = scipy.optimize.linear_sum_assignment(sub)
        out[b][rows[r]] = cols[c]
    return out


def linear_sum_assignment_padded(
    cost: jax.Array, row_valid: jax.Array, col_valid: jax.Array
) -> jax.Array:
    """Minimum-cost assignment on the valid sub-matrix, solved by scipy on the host.

    Works under jit and vmap (one host call for the whole batch). Leading dimensions are
    independent problems.

    Args:
      cost: (..., N, M) float.
      row_valid: (..., N) bool.
      col_valid: (..., M) bool.

    Returns:
      (..., N) int32: column assigned to each row, -1 for unassigned or invalid rows.
    """
    cost = jax.lax.stop_gradient(cost)
    out_shape = jax.ShapeDtypeStruct(cost.shape[:-1], jnp.int32)
    return jax.pure_callback(
        _scipy_assign_host, out_shape, cost, row_valid, col_valid, vmap_method="broadcast_all"
    )


def linear_sum_assignment_jax(
    cost: jax.Array, row_valid: jax.Array, col_valid: jax.Array
) -> jax.Array:
    """Exact assignment on device: scipy's shortest augmenting path, same tie-breaking.

    Scipy transposes a tall matrix so that the shorter side is augmented; here the objects (columns)
    are augmented one by one through Dijkstra steps over the valid queries, in scipy's scan order.
    Identical to scipy (ties included) when there are more valid queries than valid objects (scipy
    does not transpose a square problem, so ties there may resolve differently) and the float32
    arithmetic here rounds no near-tie differently from scipy's float64.

    Args:
      cost: (N, M) float, N >= number of valid columns.
      row_valid: (N,) bool.
      col_valid: (M,) bool.

    Returns:
      (N,) int32: column assigned to each row, -1 for none.
    """
    cost = jax.lax.stop_gradient(cost)
    n, m = cost.shape
    # Transposed problem of scipy: "rows" are objects (m), "columns" are queries (n).
    c = jnp.where(row_valid[None, :], cost.T, jnp.inf)  # (m, n)
    inf = jnp.asarray(jnp.inf, cost.dtype)
    rank = jnp.cumsum(row_valid) - 1  # (n,) index of each valid query in the sub-matrix
    num_valid = row_valid.sum()

    def augment(cur_row, carry):
        u, v, col4row, row4col = carry

        def dijkstra_step(state):
            i, min_val, posof, num_rem, spc, path, sr, sc, sink = state
            sr = sr.at[i].set(True)
            active = ~sc & row_valid  # not yet scanned; posof = their slot in scipy's `remaining`
            r = min_val + c[i] - u[i] - v  # (n,)
            better = active & (r < spc)
            path = jnp.where(better, i, path)
            spc = jnp.where(better, r, spc)
            s = jnp.where(active, spc, inf)
            lowest = s.min()
            at_min = active & (s == lowest)
            # scipy scans `remaining` in slot order and takes the first slot reaching the minimum,
            # unless a later slot with the same cost is an unassigned query (a sink).
            p0 = jnp.where(at_min, posof, n).min()
            p1 = jnp.where(at_min & (row4col == -1), posof, -1).max()
            index = jnp.maximum(p0, p1)
            j = jnp.argmax(active & (posof == index))
            is_sink = row4col[j] == -1
            sink = jnp.where(is_sink, j, -1)
            i = jnp.where(is_sink, i, row4col[j])
            sc = sc.at[j].set(True)
            # Swap-remove: the query in the last slot moves to the freed slot.
            last = jnp.argmax(active & (posof == num_rem - 1))
            posof = posof.at[last].set(index)
            return i, lowest, posof, num_rem - 1, spc, path, sr, sc, sink

        state = (
            cur_row,
            jnp.zeros((), cost.dtype),
            num_valid - 1 - rank,  # scipy: remaining[it] = nc - it - 1 on the valid sub-matrix
            num_valid,
            jnp.full((n,), inf),
            jnp.full((n,), -1),
            jnp.zeros((m,), bool),
            jnp.zeros((n,), bool),
            jnp.asarray(-1),
        )
        _, min_val, _, _, spc, path, sr, sc, sink = jax.lax.while_loop(
            lambda s: s[-1] < 0, dijkstra_step, state
        )
        # Dual update.
        row_gain = jnp.where(sr & (jnp.arange(m) != cur_row), min_val - spc[col4row], 0.0)
        u = u + row_gain
        u = u.at[cur_row].add(min_val)
        v = v - jnp.where(sc, min_val - spc, 0.0)

        # Augment along the path back to cur_row.
        def back_step(s):
            j, col4row, row4col, _ = s
            i = path[j]
            row4col = row4col.at[j].set(i)
            nxt = col4row[i]
            col4row = col4row.at[i].set(j)
            return nxt, col4row, row4col, i == cur_row

        _, col4row, row4col, _ = jax.lax.while_loop(
            lambda s: ~s[-1], back_step, (sink, col4row, row4col, jnp.asarray(False))
        )
        return u, v, col4row, row4col

    def maybe_augment(cur_row, carry):
        return jax.lax.cond(col_valid[cur_row], augment, lambda _, x: x, cur_row, carry)

    carry = (
        jnp.zeros((m,), cost.dtype),
        jnp.zeros((n,), cost.dtype),
        jnp.full((m,), -1),
        jnp.full((n,), -1),
    )
    _, _, _, row4col = jax.lax.fori_loop(0, m, maybe_augment, carry)
    return row4col.astype(jnp.int32)  # query -> object
