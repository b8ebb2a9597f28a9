"""Fixed-capacity track state of the online tracker.

Every array has a leading capacity axis K that never depends on how many tracks are alive. Live
tracks are kept compact: slots 0..T-1 hold the T live tracks in the official order (surviving
tracks first, in their previous order, then the new ones in detection-query index order); slots
T..K-1 are padding (`live` False, id -1, zeros elsewhere). The Samba synchronization attention
depends on that order and on T, so the order is part of the state's contract.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from sambamotr_jax.online.frame_loop import grow_slots


@struct.dataclass
class TrackState:
    """Padded per-track arrays of one sequence.

    Attributes:
      live: (K,) bool, True for slots holding a track.
      ids: (K,) int32 track id, -1 in padding.
      labels: (K,) int32 class of the track (fixed at birth).
      disappear_time: (K,) int32 consecutive missed frames.
      query_embed: (K, Dq) track query (Dq = 2 * hidden for Deformable-DETR: (pos, tgt); hidden for DAB).
      ref_pts: (K, 4) reference box in inverse-sigmoid space.
      updater: dict of the query updater's per-track arrays, each (K, ...): Samba's
        `hidden_state` (K, layers, d_inner, d_state) and `conv_history` (K, layers, conv, d_inner);
        MeMOTR's `long_memory` and `last_output` (K, hidden).
      next_id: () int32, the id the next new track gets.
    """

    live: jax.Array
    ids: jax.Array
    labels: jax.Array
    disappear_time: jax.Array
    query_embed: jax.Array
    ref_pts: jax.Array
    updater: dict
    next_id: jax.Array

    @property
    def capacity(self) -> int:
        return self.live.shape[0]


def empty_track_state(capacity: int, query_dim: int, updater_shapes: dict) -> TrackState:
    """An all-padding state. `updater_shapes` maps field name -> per-track shape (without K)."""
    k = capacity
    return TrackState(
        live=jnp.zeros((k,), bool),
        ids=jnp.full((k,), -1, jnp.int32),
        labels=jnp.zeros((k,), jnp.int32),
        disappear_time=jnp.zeros((k,), jnp.int32),
        query_embed=jnp.zeros((k, query_dim), jnp.float32),
        ref_pts=jnp.zeros((k, 4), jnp.float32),
        updater={n: jnp.zeros((k, *s), jnp.float32) for n, s in updater_shapes.items()},
        next_id=jnp.zeros((), jnp.int32),
    )


def compact_order(keep: jax.Array, capacity: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Stable compaction of candidate rows into `capacity` slots.

    Args:
      keep: (C,) bool over candidate rows, in the order tracks must keep.
      capacity: K.

    Returns:
      order: (K,) int32 candidate row of each slot (kept rows first, in order).
      live: (K,) bool, which slots hold a kept row.
      overflow: () int32, how many kept rows did not fit.
    """
    order = jnp.argsort(~keep, stable=True)[:capacity].astype(jnp.int32)  # (K,)
    n_keep = keep.sum(dtype=jnp.int32)
    live = jnp.arange(capacity) < n_keep
    return order, live, jnp.maximum(n_keep - capacity, 0)


def gather_rows(tree, order: jax.Array, live: jax.Array):
    """Takes rows `order` of every array in `tree` and zeroes the rows of padding slots."""

    def take(x):
        y = jnp.take(x, order, axis=0)
        mask = live.reshape((-1,) + (1,) * (y.ndim - 1))
        return jnp.where(mask, y, jnp.zeros_like(y))

    return jax.tree.map(take, tree)


def live_prefix_sizes(capacity: int) -> tuple[int, ...]:
    """The slot counts a per-frame computation over live slots may be cut to, smallest first.

    Live tracks occupy slots 0..T-1, so a computation whose padded slots come out as zeros can
    run on the first S slots for any S >= T. The sizes are 0 (nothing live), then multiples of
    16 (whole vectors, which XLA:CPU runs faster than odd sizes) with four steps per doubling
    past 64 (16, 32, 48, 64, 80, 96, 112, 128, 160, 192, ...), and the capacity itself.
    """
    sizes, size = [0], 16
    while size < capacity:
        sizes.append(size)
        size += max(16, 1 << max(0, size.bit_length() - 3))  # a quarter of the octave
    return (*sizes, capacity)


def on_live_prefix(fn, tree, num_live: jax.Array, capacity: int):
    """`fn(tree)` computed on the first S slots only, S the smallest `live_prefix_sizes` entry
    that holds `num_live`; the rows past S are zeros.

    Args:
      fn: maps a pytree of (S, ...) arrays to a pytree of (S, ...) arrays, each slot on its own
        except through live slots, with padded slots coming out as zeros (the query updaters).
      tree: pytree of (K, ...) arrays, live rows first.
      num_live: () int32, T <= K.
      capacity: K.

    Returns:
      fn's output padded back to K slots. One branch per size is compiled; `jax.lax.switch` runs
      only the one taken, so a frame pays for the live tracks rounded up, not for the capacity.
    """
    sizes = live_prefix_sizes(capacity)
    out_shapes = jax.eval_shape(fn, tree)

    def branch(size: int):
        def run(t):
            if size == 0:
                return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shapes)
            out = fn(jax.tree.map(lambda x: x[:size], t))
            pad = capacity - size
            return jax.tree.map(lambda x: jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)), out)

        return run

    index = jnp.searchsorted(jnp.asarray(sizes, jnp.int32), num_live.astype(jnp.int32))
    return jax.lax.switch(index, [branch(s) for s in sizes], tree)


def slot_fills(state: TrackState) -> TrackState:
    """The value of each field in a padding slot (what `empty_track_state` holds); `next_id` is
    not per slot."""
    return TrackState(
        live=False,
        ids=-1,
        labels=0,
        disappear_time=0,
        query_embed=0.0,
        ref_pts=0.0,
        updater={n: 0.0 for n in state.updater},
        next_id=0,
    )


def grow_track_state(state: TrackState, capacity: int) -> TrackState:
    """The same tracks in a larger capacity (new slots are padding)."""
    return grow_slots(state, capacity, slot_fills(state))
