"""Compaction of candidate tracks into fixed-capacity slots."""

import jax
import jax.numpy as jnp
import numpy as np

from sambamotr_jax.tracking.track_state import (
    compact_order,
    empty_track_state,
    gather_rows,
    live_prefix_sizes,
    on_live_prefix,
)
from tests.updaters.test_query_updater import _pad, _tiny_inputs, _tiny_model


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


def test_live_prefix_sizes():
    assert live_prefix_sizes(4) == (0, 4)
    assert live_prefix_sizes(32) == (0, 16, 32)
    assert live_prefix_sizes(100) == (0, 16, 32, 48, 64, 80, 96, 100)
    assert live_prefix_sizes(256) == (0, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256)


def test_on_live_prefix_equals_the_updater_on_every_slot():
    """The Samba query updater on the live slots rounded up gives the full-capacity outputs:
    live rows equal, padded rows zero, for live counts at and around the sizes (one compile)."""
    model, variables, apply = _tiny_model()
    capacity = 40  # sizes 0, 16, 32, 40

    @jax.jit
    def cut(inputs):
        return on_live_prefix(
            lambda t: model.apply(variables, **t), inputs, inputs["live"].sum(), capacity
        )

    for num_live in (0, 1, 15, 16, 17, 33, 40):
        x, _ = _pad(_tiny_inputs(max(num_live, 1), np.random.default_rng(num_live)), capacity)
        live = np.arange(capacity) < num_live
        full = apply(variables, **x, live=live)
        for a, b in zip(full, cut(dict(x, live=live)), strict=True):
            assert b.shape == a.shape
            np.testing.assert_allclose(b[:num_live], a[:num_live], rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(b[num_live:], 0.0)
