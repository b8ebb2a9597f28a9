"""run_split on several workers (devices) at once, with fake trackers: the files of one worker,
the sequences spread over every worker, a failure on one worker stopping the others."""

from __future__ import annotations

import os
import threading

import pytest

from sambamotr_jax.evaluation import device_workers, split_eval
from sambamotr_jax.runtime import cli
from tests.evaluation.test_eval import FakeStreamsTracker, FakeTracker, make_split

LENGTHS = {"seq1": 7, "seq2": 2, "seq3": 4, "seq4": 3, "seq5": 5}
TIMEOUT_S = 30  # a fake tracker that waits for the other one gives up after this


def _same_files(a, b):
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b)) and "summary.json" in names
    for name in names:
        assert (b / name).read_text() == (a / name).read_text(), name


def _seqs(tracker):
    return sorted(name for name, _ in tracker.calls)


class MeetingTracker(FakeTracker):
    """The perfect tracker; its first sequence waits until every worker has started one, so
    each worker surely tracks one."""

    def __init__(self, meeting):
        super().__init__()
        self.meeting = meeting

    def track(self, frames, *, interval):
        if not self.calls:
            self.meeting.wait(TIMEOUT_S)
        yield from super().track(frames, interval=interval)


def test_workers_pull_sequences_and_write_the_files_of_one_worker(tmp_path, caplog):
    split = make_split(tmp_path / "val", LENGTHS)
    one = split_eval.run_split(FakeTracker().factory, split, tmp_path / "one", progress=False)
    meeting = threading.Barrier(2)
    trackers = [MeetingTracker(meeting), MeetingTracker(meeting)]
    builds = []
    factory = lambda: builds.append(1) or [t.track for t in trackers]
    caplog.set_level("INFO")
    scores = split_eval.run_split(
        factory, split, tmp_path / "two", workers=["dev0", "dev1"], progress=False
    )
    _same_files(tmp_path / "one" / "val" / "tracker", tmp_path / "two" / "val" / "tracker")
    assert scores.summary == one.summary and builds == [1]
    # Each sequence was tracked once, each worker tracked some, and the log says which.
    assert sorted(_seqs(trackers[0]) + _seqs(trackers[1])) == sorted(LENGTHS)
    assert _seqs(trackers[0]) and _seqs(trackers[1])
    for k, tracker in enumerate(trackers):
        for name in _seqs(tracker):
            assert any(
                m.startswith(f"{name}: ") and f" on dev{k} -> " in m for m in caplog.messages
            )


def test_workers_with_streams_take_round_robin_shares(tmp_path):
    split = make_split(tmp_path / "val", LENGTHS)
    split_eval.run_split(FakeTracker().factory, split, tmp_path / "one", progress=False)
    trackers = [FakeStreamsTracker(), FakeStreamsTracker()]
    split_eval.run_split(
        lambda: [t.track_streams for t in trackers],
        split,
        tmp_path / "two",
        streams=2,
        workers=["dev0", "dev1"],
        progress=False,
    )
    _same_files(tmp_path / "one" / "val" / "tracker", tmp_path / "two" / "val" / "tracker")
    # No seqinfo frame size: the names' order, dealt out in turn.
    assert _seqs(trackers[0]) == ["seq1", "seq3", "seq5"]
    assert _seqs(trackers[1]) == ["seq2", "seq4"]


class SlowTracker(FakeTracker):
    """The perfect tracker; after its first frame it waits until the workers are told to stop
    (`stops[0]`, the event `device_workers.stop_when` watches)."""

    def __init__(self, started, stops):
        super().__init__()
        self.started, self.stops = started, stops

    def track(self, frames, *, interval):
        for frame, rows in super().track(frames, interval=interval):
            yield frame, rows
            self.started.set()
            self.stops[0].wait(TIMEOUT_S)


class FailingTracker(FakeTracker):
    """Fails at the first frame of its first sequence, once the other worker has started."""

    def __init__(self, started):
        super().__init__()
        self.started = started

    def track(self, frames, *, interval):
        self.calls.append((frames[0].parent.parent.name, interval))
        self.started.wait(TIMEOUT_S)
        raise RuntimeError("device lost")
        yield  # a generator, as a tracker


def test_a_failure_on_one_worker_stops_the_others_and_leaves_no_result_file(tmp_path, monkeypatch):
    split = make_split(tmp_path / "val", LENGTHS)
    stops, stop_when = [], device_workers.stop_when
    monkeypatch.setattr(
        device_workers, "stop_when", lambda stop, fn: stops.append(stop) or stop_when(stop, fn)
    )
    started = threading.Event()
    slow, failing = SlowTracker(started, stops), FailingTracker(started)
    with pytest.raises(cli.Failure) as err:
        split_eval.run_split(
            lambda: [slow.track, failing.track],
            split,
            tmp_path / "out",
            workers=["dev0", "dev1"],
            progress=False,
        )
    assert str(err.value) == "tracking on dev1 failed: RuntimeError: device lost"
    assert isinstance(err.value.__cause__, RuntimeError)
    # dev0 was stopped after its sequence's first frame (kept in a .partial file); dev1's
    # sequence has no file; no sequence started after the failure.
    (seq,), (lost,) = _seqs(slow), _seqs(failing)
    assert os.listdir(tmp_path / "out" / "val" / "tracker") == [f"{seq}.txt.partial"]
    assert lost != seq
