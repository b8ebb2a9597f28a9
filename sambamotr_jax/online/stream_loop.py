"""Several sequences at once: B streams through one batched frame step.

Each of the B stream slots tracks one sequence at a time with its own track state (its own ids
from its own `next_id`, misses and kills); the states are stacked on a leading stream axis and
one batched step (`tracking.frame_step.make_frame_step(batched=True)`) runs a frame of every
slot. A slot whose sequence ends takes the next sequence, with a fresh empty state written into
it; a slot without a sequence (the sources ran out) runs a zero padding frame whose results are
ignored, so the batch's shapes never change.

Capacity: one K for the batch. When a frame would drop a track in any stream, every stream's
state grows (`grow` per stream, doubling up to the limit) and the batch's frame is run again
from its saved input states, exactly as `frame_loop.CapacityLoop` does for one sequence: the
results of every stream equal its own `CapacityLoop` run.

Frame sizes: one batch runs one input size (the step's image shape). A sequence whose frames
have another input size waits, with sources after it, until every stream of the batch has
finished; then the batch switches to its size (one compilation per size). Sources given grouped
by size therefore switch once per size.

While the device runs frame t of every stream, the host reads and preprocesses the streams'
next frames (and opens the next sequences); only the per-slot result rows are fetched.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sambamotr_jax.online.frame_loop import FrameTracks, frame_tracks, warn_dropped

# A source: (0-based frame index, step inputs (image, pad_mask, orig_hw) of one frame) in order.
Source = Iterable[tuple[int, tuple]]


@dataclasses.dataclass
class _Stream:
    """The sequence a slot is tracking: its source's index, the rest of its frames, and the
    frame it runs next (None once its frames ran out)."""

    source: int
    frames: Iterator[tuple[int, tuple]]
    next: tuple[int, tuple] | None


def _input_shapes(inputs: tuple) -> tuple:
    return tuple(np.shape(x) for x in inputs)


@jax.jit
def _set_slot(states, one, slot):
    """`states` (leading stream axis) with stream `slot` replaced by the one-stream `one`."""
    return jax.tree.map(lambda s, e: s.at[slot].set(e), states, one)


class StreamLoop:
    """Runs a batched step over B streams of sequences, growing the shared capacity exactly.

    Attributes:
      capacity: the batch's current capacity K (kept across runs).
      max_capacity: the limit; past it a frame drops tracks with a warning.
    """

    def __init__(
        self,
        step: Callable[..., tuple[Any, dict]],
        grow: Callable[[Any, int], Any],
        empty: Callable[[int], Any],
        *,
        capacity: int,
        max_capacity: int,
    ):
        """
        Args:
          step: (states, images (B, ...), pad_masks (B, ...), orig_hws (B, 2)) -> (states,
            results): the batched frame step; every state and result array has a leading
            stream axis B, results per stream as `frame_loop.StepFn`'s.
          grow: (one stream's state, capacity) -> that state with more slots.
          empty: capacity -> one stream's all-padding state (a fresh sequence).
          capacity: the initial K; max_capacity: the limit.
        """
        self.step = step
        self.grow = grow
        self.empty = empty
        self.capacity = int(capacity)
        self.max_capacity = max(int(max_capacity), self.capacity)

    def run(self, sources: Iterable[Source], streams: int) -> Iterator[tuple[int, FrameTracks]]:
        """Tracks every source, `streams` at a time; yields (index of the source in `sources`,
        its FrameTracks), each source's frames in order, frames of different sources
        interleaved. Sources are opened lazily, when a slot frees.

        A frame that cannot be read (an exception from a source) stops the run: the frames in
        flight are yielded first, then the exception propagates.
        """
        if streams < 1:
            raise ValueError(f"streams must be >= 1, got {streams}")
        opened = enumerate(sources)
        slots: list[_Stream | None] = [None] * streams
        held: _Stream | None = None  # a sequence of another input size, waiting for the batch
        shapes = None  # input shapes of the batch
        padding = None  # the padding frame's inputs
        fresh: set[int] = set()  # slots whose next frame starts a sequence
        states = None

        def open_next() -> _Stream | None:
            for index, source in opened:
                frames = iter(source)
                first = next(frames, None)
                if first is not None:  # an empty source yields nothing
                    return _Stream(index, frames, first)
            return None

        def fill() -> None:
            """Gives free slots the next sequences of the batch's input size."""
            nonlocal held, shapes
            for b, s in enumerate(slots):
                if s is not None and s.next is None:
                    slots[b] = None  # its sequence ended
            for b in range(streams):
                if slots[b] is not None:
                    continue
                stream, held = held or open_next(), None
                if stream is None:
                    return
                size = _input_shapes(stream.next[1])
                if shapes is not None and size != shapes:
                    if any(s is not None for s in slots):
                        held = stream  # runs once the batch has drained
                        return
                    shapes = None  # every slot is free: the batch switches size
                if shapes is None:
                    shapes = size
                slots[b] = stream
                fresh.add(b)

        fill()
        while any(s is not None for s in slots):
            frame = [s.next if s is not None else None for s in slots]
            frame_sources = [s.source if s is not None else None for s in slots]
            if padding is None or _input_shapes(padding) != shapes:
                first = next(f for f in frame if f is not None)
                padding = tuple(np.zeros_like(np.asarray(x)) for x in first[1])
                states = self._empty_batch(streams)  # a new size: every slot starts fresh
            for b in sorted(fresh):
                states = _set_slot(states, self._empty(), np.int32(b))
            fresh.clear()
            inputs = tuple(
                np.stack(column)
                for column in zip(*(f[1] if f is not None else padding for f in frame))
            )
            previous = states
            states, results = self.step(states, *inputs)
            # While the device works: the next frame of every stream, new sequences for the
            # streams that end. An error (an unreadable frame) waits until this frame is out.
            error = None
            try:
                for s in slots:
                    if s is not None:
                        s.next = next(s.frames, None)
                fill()
            except Exception as err:
                error = err
            states, collected = self._finish(frame, previous, inputs, states, results)
            for b, tracks in collected:
                yield frame_sources[b], tracks
            if error is not None:
                raise error

    def _empty(self):
        return self.empty(self.capacity)

    def _empty_batch(self, streams: int):
        one = self._empty()
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (streams, *x.shape)), one)

    def _finish(self, frame, previous, inputs, states, results):
        """Collects one batched frame; on overflow in a stream grows every stream and redoes
        the frame. Returns (the states after the frame, [(slot, FrameTracks)] of the streams
        that ran a sequence's frame)."""
        active = np.array([f is not None for f in frame])
        r = jax.device_get(results)
        while (np.asarray(r["overflow"])[active] > 0).any() and self.capacity < self.max_capacity:
            new_capacity = min(2 * self.capacity, self.max_capacity)
            logging.info(
                "frames %s: more live tracks than %d slots; capacity -> %d",
                [f[0] + 1 for f in frame if f is not None],
                self.capacity,
                new_capacity,
            )
            self.capacity = new_capacity
            previous = jax.vmap(lambda s, k=new_capacity: self.grow(s, k))(previous)
            states, results = self.step(previous, *inputs)
            r = jax.device_get(results)
        collected = []
        for b, f in enumerate(frame):
            if f is None:
                continue
            row = {k: np.asarray(v)[b] for k, v in r.items() if k != "detections"}
            warn_dropped(f[0], int(row["overflow"]), self.capacity)
            collected.append((b, frame_tracks(f[0], row)))
        return states, collected
