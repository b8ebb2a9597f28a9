"""`StreamLoop` over a small hand-made step (no model): each source's frames come out exactly as
its own `CapacityLoop` run gives them, with slots freed and reused, a shared capacity that
grows, idle slots, input sizes that differ, and an unreadable frame."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sambamotr_jax.online.frame_loop import CapacityLoop, grow_slots
from sambamotr_jax.online.stream_loop import StreamLoop

FILLS = {"live": False, "ids": -1, "next_id": 0}


def births_step(state, image, pad_mask, orig_hw):
    """Keeps every track and gives `image[0, 0, 0, 0]` new ones their ids from `next_id`; the
    box of a track is (id, frame value, h, w)."""
    k = state["live"].shape[0]
    births = image[0, 0, 0, 0].astype(jnp.int32)
    n = state["live"].sum(dtype=jnp.int32)
    slots = jnp.arange(k)
    live = slots < n + births
    ids = jnp.where(live, jnp.where(slots < n, state["ids"], state["next_id"] + slots - n), -1)
    boxes = jnp.stack(
        [
            ids.astype(jnp.float32),
            jnp.full((k,), image[0, 0, 0, 1]),
            *jnp.broadcast_to(orig_hw, (k, 2)).T,
        ],
        axis=1,
    )
    next_state = {"live": live, "ids": ids, "next_id": state["next_id"] + births}
    results = {
        "ids": ids,
        "labels": jnp.zeros((k,), jnp.int32),
        "scores": jnp.ones((k,), jnp.float32),
        "boxes_xyxy": boxes,
        "keep": live,
        "overflow": jnp.maximum(n + births - k, 0),
    }
    return next_state, results


def empty(capacity):
    return {
        "live": jnp.zeros((capacity,), bool),
        "ids": jnp.full((capacity,), -1, jnp.int32),
        "next_id": jnp.zeros((), jnp.int32),
    }


def grow(state, capacity):
    return grow_slots(state, capacity, FILLS)


def frame(births: int, tag: float, hw=(4, 6)):
    image = np.zeros((1, *hw, 3), np.float32)
    image[0, 0, 0, :2] = births, tag
    return image, np.zeros((1, *hw), bool), np.array(hw, np.float32)


def source(births, tag, hw=(4, 6)):
    return [(i, frame(b, tag + i, hw)) for i, b in enumerate(births)]


def own_runs(sources, capacity, limit=64):
    """Each source alone through `CapacityLoop` (the reference)."""
    step = jax.jit(births_step)
    out = []
    for s in sources:
        loop = CapacityLoop(step, grow, capacity=capacity, max_capacity=limit)
        out.append(list(loop.run(empty(capacity), s)))
    return out


def stream_runs(sources, streams, capacity, limit=64):
    loop = StreamLoop(
        jax.jit(jax.vmap(births_step)), grow, empty, capacity=capacity, max_capacity=limit
    )
    out = [[] for _ in sources]
    order = []
    for k, tracks in loop.run(iter(sources), streams):
        out[k].append(tracks)
        order.append(k)
    return out, order, loop


def assert_same(ours, expected):
    assert [f.index for f in ours] == [f.index for f in expected]
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.boxes_xyxy, b.boxes_xyxy)


def test_each_stream_equals_its_own_run_with_slots_reused_and_growth():
    sources = [
        source([1, 2, 1, 3], 10),
        source([2], 20),
        source([], 30),  # no frames: nothing yielded
        source([3, 3, 3], 40),  # 9 tracks: the shared capacity grows 2 -> 4 -> 8 -> 16
        source([1, 1], 50),
    ]
    expected = own_runs(sources, capacity=2)
    ours, order, loop = stream_runs(sources, streams=2, capacity=2)
    for k in range(len(sources)):
        assert_same(ours[k], expected[k])
    assert loop.capacity == 16
    # Frames interleave; source 1 ends after one frame and its slot takes source 3 (then 4).
    assert order[:4] == [0, 1, 0, 3]
    assert [len(o) for o in ours] == [4, 1, 0, 3, 2]
    # Each stream's ids count from 0.
    assert ours[3][0].ids.tolist() == [0, 1, 2] and ours[4][0].ids.tolist() == [0]


def test_more_streams_than_sources_run_padding_frames():
    sources = [source([2, 1], 10)]
    ours, order, loop = stream_runs(sources, streams=4, capacity=4)
    assert_same(ours[0], own_runs(sources, capacity=4)[0])
    assert order == [0, 0] and loop.capacity == 4


def test_another_input_size_waits_for_the_batch_to_drain():
    sources = [
        source([1, 1, 1], 10),
        source([2], 20, hw=(8, 6)),  # waits: the batch runs (4, 6) frames
        source([1], 30),
        source([1, 1], 40, hw=(8, 6)),
    ]
    expected = own_runs(sources, capacity=4)
    ours, order, _ = stream_runs(sources, streams=2, capacity=4)
    for k in range(len(sources)):
        assert_same(ours[k], expected[k])
    # Sources are opened in order: one of another size stops the opening until the batch drains.
    assert order == [0, 0, 0, 1, 2, 3, 3]


def test_unreadable_frame_yields_the_frames_in_flight_then_raises():
    def failing():
        yield 0, frame(1, 1)
        raise OSError("frame 2 cannot be read")

    loop = StreamLoop(jax.jit(jax.vmap(births_step)), grow, empty, capacity=4, max_capacity=8)
    got = []
    with pytest.raises(OSError, match="frame 2 cannot be read"):
        for k, tracks in loop.run([source([1, 1, 1], 10), failing()], streams=2):
            got.append((k, tracks.index))
    assert got == [(0, 0), (1, 0)]
