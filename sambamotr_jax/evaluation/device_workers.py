"""A process's sequences spread over its devices: one thread per device, each with its own tracker.

A worker is a name (a device's, e.g. `cuda:1`) and a tracker that runs there; this module sees
only the names. Each worker runs in its own thread (JAX releases the GIL while a computation
runs, so the devices work at once) and takes its sequences in one of two ways:

- `shared=True` (one stream per device): every worker pulls the next sequence from one queue,
  in the order given, when it finishes the one before, so a device that drew short sequences
  takes more of them.
- `shared=False` (`--streams=B`, B streams per device): worker k of N takes the sequences
  k, k + N, k + 2N, ... of the list at once (a stream loop wants its sequences up front).

A failure on one worker (an unreadable frame, a device error) stops the others: their
trackers (wrapped by `stop_when`) raise `Stopped`, an `InputError`, at their next frame, so
their sequences in flight end as at an unreadable frame (the lines so far in
`<result>.partial`, no result file), and no sequence starts after it; each stopped worker
logs one warning. The first failure is raised once every thread has ended: an `InputError` or
`cli.Failure` as it is, any other error as a `cli.Failure` naming the worker (its traceback
kept as the cause, shown by `--debug`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from absl import logging

from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.runtime import cli

T = TypeVar("T")


class Stopped(InputError):
    """Raised inside a worker's tracker once another worker has failed."""


def stop_when(stop: threading.Event, track_fn: Callable[..., Iterator]) -> Callable[..., Iterator]:
    """`track_fn` (any generator function) that raises `Stopped` before its next item once
    `stop` is set."""

    def stoppable(*args, **kwargs):
        for item in track_fn(*args, **kwargs):
            if stop.is_set():
                raise Stopped("stopped: tracking failed on another device")
            yield item

    return stoppable


def run_workers(
    items: Sequence[T],
    workers: Sequence[str],
    work: Callable[[int, Iterable[T], threading.Event], None],
    *,
    shared: bool,
) -> None:
    """Runs `work(k, items of worker k, stop)` in one thread per worker; waits for them all.

    Args:
      items: the sequences to track (module docstring for how they are spread).
      workers: the workers' names (for messages).
      work: tracks the items it is given with worker k's tracker (wrapped in
        `stop_when(stop, ...)`) and writes their results.
      shared: pull from one queue (True) or take a round-robin share (False).

    Raises:
      The first worker's failure (module docstring).
    """
    stop = threading.Event()
    lock = threading.Lock()
    queue = iter(items)
    failure: list[tuple[int, BaseException]] = []  # the first one

    def pulled() -> Iterator[T]:
        while not stop.is_set():
            with lock:
                item = next(queue, queue)
            if item is queue:
                return
            yield item

    def run(k: int) -> None:
        try:
            work(k, pulled() if shared else list(items[k :: len(workers)]), stop)
        except BaseException as err:  # noqa: BLE001 - raised by the main thread
            with lock:
                if stop.is_set():  # stopped by (or failing after) the first failure
                    logging.warning("%s: %s: %s", workers[k], type(err).__name__, err)
                else:
                    failure.append((k, err))
                stop.set()

    threads = [
        threading.Thread(target=run, args=(k,), name=f"track-{name}", daemon=True)
        for k, name in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C: the workers stop at their next frame
        stop.set()
        raise
    if not failure:
        return
    k, err = failure[0]
    if isinstance(err, InputError | cli.Failure):
        raise err
    raise cli.Failure(f"tracking on {workers[k]} failed: {type(err).__name__}: {err}") from err
