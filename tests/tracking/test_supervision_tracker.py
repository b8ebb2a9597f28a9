"""The supervision interfaces on the official SambaMOTR fixture: `FrameTracks.to_supervision()`
and `SupervisionTracker.update(frame)` give the ids, boxes, scores and classes of
`Tracker.track_frames`; `reset()` starts the ids again. One tracker, compiled once."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import supervision as sv

from sambamotr_jax import api
from sambamotr_jax.formats.errors import InputError
from tests.tracking.test_tracker_fixture import fixture_tracker_inputs


@pytest.fixture(scope="module")
def fixture_run():
    config, variables, frames, _ = fixture_tracker_inputs("official_def_detr")
    tracker = api.Tracker(config, variables)
    return tracker, frames, list(tracker.track_frames(frames))


def assert_same(detections: sv.Detections, tracks: api.FrameTracks):
    assert isinstance(detections, sv.Detections)
    assert detections.xyxy.dtype == np.float32 and detections.confidence.dtype == np.float32
    np.testing.assert_array_equal(detections.tracker_id, tracks.ids)
    np.testing.assert_array_equal(detections.class_id, tracks.labels)
    np.testing.assert_allclose(detections.xyxy, tracks.boxes_xyxy, rtol=0, atol=1e-4)
    np.testing.assert_allclose(detections.confidence, tracks.scores, rtol=0, atol=1e-6)


def test_to_supervision_and_update_match_track_frames(fixture_run):
    tracker, frames, expected = fixture_run
    assert len(expected) == len(frames) and sum(len(t.ids) for t in expected) > 0
    for tracks in expected:
        assert_same(tracks.to_supervision(), tracks)
    online = api.SupervisionTracker(tracker)  # BGR frames, as cv2 and supervision read them
    for frame, tracks in zip(frames, expected):
        assert_same(online.update(np.ascontiguousarray(frame[..., ::-1])), tracks)
    assert online.frame_index == len(frames)


def test_reset_restarts_ids_and_rgb_frames(fixture_run):
    tracker, frames, expected = fixture_run
    online = api.SupervisionTracker(tracker, channels="rgb")
    for frame in frames:
        online.update(frame)
    assert max(online.update(frames[0]).tracker_id, default=0) >= len(expected[0].ids)
    online.reset()
    assert online.frame_index == 0
    for frame, tracks in list(zip(frames, expected))[:2]:
        assert_same(online.update(frame), tracks)


def test_bad_frame_and_missing_supervision_are_one_input_error(fixture_run, monkeypatch):
    tracker, frames, _ = fixture_run
    online = api.SupervisionTracker(tracker)
    with pytest.raises(InputError, match=r"give an \(H, W, 3\) uint8 BGR image"):
        online.update(frames[0].astype(np.float32))
    monkeypatch.setitem(sys.modules, "supervision", None)  # `import supervision` fails
    with pytest.raises(InputError, match=r'pip install -e "\.\[supervision\]"'):
        api.SupervisionTracker(tracker)
    with pytest.raises(InputError, match="supervision is not installed"):
        online.update(frames[0][..., ::-1])
