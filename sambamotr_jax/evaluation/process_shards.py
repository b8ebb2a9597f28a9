"""A split's sequences spread over the processes of a multi-process run.

Process k of N tracks the sequences k, k + N, k + 2N, ... of the split sorted by name and
writes their result files (each atomically: a sequence that fails leaves none). Every process
then waits at a barrier; process 0 checks that every result file is there and scores the
split (its summary is the one-process run's: scoring reads only the files). A process whose
sequence failed still reaches the barrier, so the others do not wait for it, then raises its
own error; process 0 names the sequences without results.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence

from sambamotr_jax.runtime import cli

Shard = tuple[int, int]  # (process_index, process_count)
SINGLE: Shard = (0, 1)


def own_names(names: Sequence[str], shard: Shard) -> list[str]:
    """The names process `shard[0]` of `shard[1]` handles: round-robin over the sorted names.

    Raises:
      ValueError: an index outside 0..count-1.
    """
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"bad shard {shard}: expected (process_index, process_count)")
    return sorted(names)[index::count]


def track_then_gather(
    track: Callable[[list[str]], None],
    names: Sequence[str],
    result_files: Callable[[str], Sequence[pathlib.Path]],
    *,
    shard: Shard = SINGLE,
    barrier: Callable[[str], None] | None = None,
) -> bool:
    """Runs `track(own names)` on this process, waits for every process, checks the results.

    Args:
      track: tracks the given sequences and writes their result files.
      names: every sequence of the split.
      result_files: a sequence's result files (all must exist once it is tracked).
      shard: (process_index, process_count).
      barrier: waits for every process (`runtime.distributed.barrier`); needed when
        process_count > 1.

    Returns:
      True on the process that scores (process 0), False on the others.

    Raises:
      The error of this process's tracking; on process 0, `cli.Failure` when a sequence
      tracked elsewhere has no result file.
    """
    index, count = shard
    own = own_names(names, shard)
    if count == 1:
        track(own)
        return True
    if barrier is None:
        raise ValueError(f"shard {shard}: a multi-process run needs a barrier")
    error = None
    try:
        track(own)
    except Exception as err:  # the others are not left waiting: barrier first, then raise
        error = err
    barrier("evaluation: sequences tracked")
    if error is not None:
        raise error
    if index != 0:
        return False
    missing = [n for n in sorted(names) if not all(f.is_file() for f in result_files(n))]
    if missing:
        raise cli.Failure(
            f"no result file for sequences {missing}: the process that tracked them failed "
            "(see its log)"
        )
    return True
