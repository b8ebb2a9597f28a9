"""Compaction of candidate tracks into fixed-capacity slots."""

import jax.numpy as jnp
import numpy as np

from sambamotr_jax.tracking.track_state import compact_order, empty_track_state, gather_rows


def test_compact_order_keeps_order_and_reports_overflow():
    keep = jnp.array([False, True, False, True, True, False, True])
    order, live, overflow = compact_order(keep, 3)
    np.testing.assert_array_equal(order, [1, 3, 4])
    np.testing.assert_array_equal(live, [True, True, True])
    assert int(overflow) == 1
    order, live, overflow = compact_order(keep, 6)
    np.testing.assert_array_equal(order[:4], [1, 3, 4, 6])
    np.testing.assert_array_equal(live, [True] * 4 + [False] * 2)
    assert int(overflow) == 0


def test_gather_rows_zeroes_padding():
    tree = {"a": jnp.arange(12.0).reshape(6, 2), "b": jnp.arange(6)}
    order, live, _ = compact_order(jnp.array([0, 1, 0, 0, 1, 0], bool), 4)
    rows = gather_rows(tree, order, live)
    np.testing.assert_array_equal(rows["a"], [[2, 3], [8, 9], [0, 0], [0, 0]])
    np.testing.assert_array_equal(rows["b"], [1, 4, 0, 0])


def test_empty_state_shapes():
    s = empty_track_state(5, 8, {"hidden_state": (2, 3, 4)})
    assert s.capacity == 5 and s.query_embed.shape == (5, 8)
    assert s.updater["hidden_state"].shape == (5, 2, 3, 4)
    assert not s.live.any() and (s.ids == -1).all() and int(s.next_id) == 0
