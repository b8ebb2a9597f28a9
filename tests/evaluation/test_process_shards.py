"""Evaluation spread over processes: each tracks its share of the sequences, process 0 scores
them all once every process is done. Two "processes" are two threads here, with a barrier."""

from __future__ import annotations

import threading

import pytest

from sambamotr_jax.evaluation import process_shards, split_eval
from sambamotr_jax.runtime import cli
from tests.evaluation.test_eval import FakeTracker, make_split


def test_own_names_round_robin_by_sorted_name():
    names = ["c", "a", "e", "b", "d"]
    assert process_shards.own_names(names, (0, 2)) == ["a", "c", "e"]
    assert process_shards.own_names(names, (1, 2)) == ["b", "d"]
    assert process_shards.own_names(names, (0, 1)) == ["a", "b", "c", "d", "e"]
    assert process_shards.own_names(["a"], (2, 3)) == []
    with pytest.raises(ValueError, match="bad shard"):
        process_shards.own_names(names, (2, 2))


def _run_two(split, out, trackers, **kwargs):
    """run_split in two threads as processes 0 and 1 of 2; returns (results, errors)."""
    barrier = threading.Barrier(2, timeout=60)
    results, errors = [None, None], [None, None]

    def process(i):
        try:
            results[i] = split_eval.run_split(
                trackers[i].factory,
                split,
                out,
                progress=False,
                shard=(i, 2),
                barrier=lambda name: barrier.wait(),
                **kwargs,
            )
        except Exception as err:
            errors[i] = err

    threads = [threading.Thread(target=process, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results, errors


def test_two_processes_score_as_one(tmp_path):
    split = make_split(tmp_path / "data" / "val", {"s1": 4, "s2": 3, "s3": 5})
    single = split_eval.run_split(FakeTracker().factory, split, tmp_path / "one", progress=False)
    trackers = [FakeTracker(), FakeTracker()]
    (scores, none), errors = _run_two(split, tmp_path / "two", trackers)
    assert errors == [None, None]
    assert none is None and scores.summary == single.summary
    assert [c[0] for c in trackers[0].calls] == ["s1", "s3"]
    assert [c[0] for c in trackers[1].calls] == ["s2"]
    for name in ("s1.txt", "s2.txt", "s3.txt", "summary.json"):
        one = (tmp_path / "one" / "val" / "tracker" / name).read_text()
        assert (tmp_path / "two" / "val" / "tracker" / name).read_text() == one


def test_a_failed_sequence_leaves_no_result_and_stops_both(tmp_path):
    split = make_split(tmp_path / "data" / "val", {"s1": 4, "s2": 3})
    out = tmp_path / "out"
    split_eval.run_split(FakeTracker().factory, split, out, progress=False)
    stale = out / "val" / "tracker" / "s2.txt"
    assert stale.is_file()

    failing = FakeTracker()

    def track(frames, *, interval):
        yield 1, []
        raise RuntimeError("tracker crashed")

    failing.track = track
    (_, _), errors = _run_two(split, out, [FakeTracker(), failing], overwrite=True)
    assert isinstance(errors[1], RuntimeError)
    assert isinstance(errors[0], cli.Failure) and "['s2']" in str(errors[0])
    assert not stale.exists()  # the old result is gone, no new one looks complete
    assert (out / "val" / "tracker" / "s1.txt").is_file()
