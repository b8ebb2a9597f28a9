"""Matcher: cost numbers by hand, scipy callback on padded problems, the on-device solver."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from sambamotr_jax.training import matcher


def test_focal_class_cost_by_hand():
    logits = jnp.array([[0.0, 2.0], [-1.0, 0.5]])
    got = matcher.focal_class_cost(logits, jnp.array([1, 0, 1]))
    p = 1 / (1 + math.exp(-2.0))  # query 0, class 1
    want01 = 0.25 * (1 - p) ** 2 * -math.log(p + 1e-8) - 0.75 * p**2 * -math.log(1 - p + 1e-8)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got[0, 0], want01, rtol=1e-5)
    np.testing.assert_allclose(got[0, 2], want01, rtol=1e-5)
    p = 1 / (1 + math.exp(1.0))  # query 1, class 0
    want = 0.25 * (1 - p) ** 2 * -math.log(p + 1e-8) - 0.75 * p**2 * -math.log(1 - p + 1e-8)
    np.testing.assert_allclose(got[1, 1], want, rtol=1e-5)


def test_match_cost_by_hand():
    pred_boxes = jnp.array([[0.5, 0.5, 0.2, 0.2]])
    gt_boxes = jnp.array([[0.6, 0.5, 0.2, 0.2]])
    cost = matcher.match_cost(
        pred_logits=jnp.zeros((1, 1)),
        pred_boxes=pred_boxes,
        gt_labels=jnp.array([0]),
        gt_boxes=gt_boxes,
        cost_class=2.0,
        cost_bbox=5.0,
        cost_giou=2.0,
    )
    # L1 0.1, GIoU 1/3, class cost at p = 0.5: (0.25 - 0.75) * 0.25 * log 2.
    want = 5 * 0.1 + 2 * (-0.5 * 0.25 * math.log(2)) - 2 / 3
    np.testing.assert_allclose(cost[0, 0], want, rtol=1e-5)


def _reference(cost, row_valid, col_valid):
    rows, cols = np.flatnonzero(row_valid), np.flatnonzero(col_valid)
    r, c = scipy.optimize.linear_sum_assignment(cost[np.ix_(rows, cols)].astype(np.float64))
    out = np.full(cost.shape[0], -1)
    out[rows[r]] = cols[c]
    return out


def _problems(seed, count, n=30, m=10):
    rng = np.random.default_rng(seed)
    for t in range(count):
        cost = rng.normal(size=(n, m)).astype(np.float32)
        if t % 2:
            cost = np.round(cost * 2).astype(np.float32)  # many exact ties
        row_valid = rng.random(n) > 0.2
        col_valid = rng.random(m) > 0.3
        assert row_valid.sum() > col_valid.sum()  # scipy augments the objects, as we do
        yield cost, row_valid, col_valid


def test_scipy_callback_padded_and_batched():
    problems = list(_problems(0, 6))
    cost, row_valid, col_valid = (np.stack(x) for x in zip(*problems, strict=True))
    solve = jax.jit(matcher.linear_sum_assignment_padded)
    got = np.asarray(solve(cost, row_valid, col_valid))  # leading dim: 6 problems, one call
    for i, (c, r, v) in enumerate(problems):
        np.testing.assert_array_equal(got[i], _reference(c, r, v))
    # vmap gives the same answer.
    got_vmap = np.asarray(
        jax.jit(jax.vmap(matcher.linear_sum_assignment_padded))(
            *map(jnp.asarray, (cost, row_valid, col_valid))
        )
    )
    np.testing.assert_array_equal(got_vmap, got)
    # Nothing valid: no assignment.
    none = solve(cost[0], row_valid[0], np.zeros_like(col_valid[0]))
    assert (np.asarray(none) == -1).all()


def test_device_solver_equals_scipy_including_ties():
    solve = jax.jit(matcher.linear_sum_assignment_jax)
    for cost, row_valid, col_valid in _problems(1, 40):
        got = np.asarray(solve(cost, row_valid, col_valid))
        np.testing.assert_array_equal(got, _reference(cost, row_valid, col_valid))
