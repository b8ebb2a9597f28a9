"""`Tracker.track_streams` on the official fixtures (SambaMOTR and MeMOTR): three sequences of
different lengths in two streams (a slot freed and reused, an idle slot at the end), a capacity
that grows from 8 to 16, one sequence given as a frames folder. Every sequence gets the ids and
MOT lines of its own `track_frames` run, and the first one those of the official tracker.txt.

The reference runs compile the fixture step at capacity 20, the program of
test_tracker_fixture.py's configuration (read back from the session's compilation cache); the
batched step compiles at capacities 8 and 16.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sambamotr_jax import api
from sambamotr_jax.online.frame_loop import mot_lines
from tests.conftest import shared_path
from tests.tracking.test_tracker_fixture import FIXTURES, fixture_tracker_inputs

STREAMS = 2
START_CAPACITY = 8  # 11-15 live tracks from the third frame: the batch grows to 16


def sequences(frames: list[np.ndarray]) -> list[list[np.ndarray]]:
    """The fixture's first 3 frames (11 live tracks at the third); its last frame alone; its
    last 3 frames."""
    return [frames[:3], frames[3:], frames[1:]]


@pytest.fixture(scope="module", params=list(FIXTURES))
def runs(request, tmp_path_factory):
    name = request.param
    config, variables, frames, _ = fixture_tracker_inputs(name)
    seqs = sequences(frames)
    expected = [list(api.Tracker(config, variables).track_frames(s)) for s in seqs]

    # The third sequence as a frames folder (PNG: the same pixels).
    folder = tmp_path_factory.mktemp(f"{name}_frames")
    for i, frame in enumerate(seqs[2]):
        cv2.imwrite(str(folder / f"{i + 1:08d}.png"), np.ascontiguousarray(frame[..., ::-1]))
    config = config.copy_and_resolve_references()
    config.tracker.max_tracks = START_CAPACITY
    tracker = api.Tracker(config, variables)
    ours, order = [[] for _ in seqs], []
    for k, tracks in tracker.track_streams(
        iter([seqs[0], iter(seqs[1]), str(folder)]), streams=STREAMS
    ):
        ours[k].append(tracks)
        order.append(k)
    tracker_txt = (shared_path("fixtures", name) / "tracker.txt").read_text().splitlines()
    return {
        "expected": expected,
        "ours": ours,
        "order": order,
        "tracker": tracker,
        "txt": tracker_txt,
    }


def assert_same_lines(ours: list[str], theirs: list[str]):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a, b = a.strip().split(","), b.strip().split(",")
        assert a[:2] == b[:2] and a[6:] == b[6:], (a, b)
        np.testing.assert_allclose(np.float64(a[2:6]), np.float64(b[2:6]), atol=1e-3)


def test_each_stream_equals_its_own_track_frames(runs):
    for ours, expected in zip(runs["ours"], runs["expected"], strict=True):
        assert [f.index for f in ours] == list(range(len(expected)))
        for a, b in zip(ours, expected):
            np.testing.assert_array_equal(a.ids, b.ids)
            np.testing.assert_array_equal(a.labels, b.labels)
            np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)
            np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, rtol=0, atol=1e-3)
            assert_same_lines(mot_lines(a), mot_lines(b))
    assert all(len(f.ids) for ours in runs["ours"] for f in ours)  # every frame has tracks


def test_slots_are_reused_and_the_shared_capacity_grows(runs):
    # Sequence 1 (1 frame) ends and its slot takes sequence 2; slot 0 idles in the last frame.
    assert runs["order"] == [0, 1, 0, 2, 0, 2, 2]
    assert runs["tracker"]._streams.capacity == 16
    assert min(min(f.ids, default=0) for f in runs["ours"][2]) == 0


def test_the_first_sequence_reproduces_the_official_tracker_txt(runs):
    # The official run tracked all 4 frames; online tracking of frames 1-3 is its first lines.
    lines = [line for f in runs["ours"][0] for line in mot_lines(f)]
    official = [line for line in runs["txt"] if int(line.split(",")[0]) <= 3]
    assert 0 < len(official) < len(runs["txt"])
    assert_same_lines(lines, official)
