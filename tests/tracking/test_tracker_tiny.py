"""The online tracker on a tiny random model: capacity growth is exact, compiles once per shape."""

import functools

import chex
import jax
import numpy as np
import pytest

from configs import tiny
from sambamotr_jax import api
from sambamotr_jax import model as model_lib
from sambamotr_jax.online import frame_preprocess
from sambamotr_jax.tracking import frame_step


@pytest.fixture(scope="module")
def setup():
    config = tiny.get_config()
    # Every detection query is born each frame, so the capacity must grow.
    config.tracker.det_score_thresh = 0.0
    config.tracker.track_score_thresh = 0.0
    config.tracker.result_score_thresh = 0.0
    config.tracker.area_thresh = 0.0
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8) for _ in range(3)]
    return config, variables, frames


def run(config, variables, frames, capacity, limit):
    config = config.copy_and_resolve_references()
    config.tracker.max_tracks, config.tracker.max_tracks_limit = capacity, limit
    tracker = api.Tracker(config, variables)
    out = list(tracker.track_frames(frames))
    return out, tracker


def test_capacity_growth_is_exact(setup):
    config, variables, frames = setup
    grown, tracker = run(config, variables, frames, capacity=4, limit=64)
    assert tracker.capacity == 32  # 8 births per frame: 8 -> 16 -> 24 live tracks
    # Fixed at the grown run's last capacity from the first frame: never grows, and its frame
    # step is the program the grown run compiled last (read from the compilation cache).
    fixed, fixed_tracker = run(config, variables, frames, capacity=32, limit=64)
    assert fixed_tracker.capacity == 32
    for a, b in zip(grown, fixed):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, rtol=1e-5, atol=1e-4)
    assert [len(f.ids) for f in fixed] == [8, 16, 24]


def test_capacity_limit_drops_tracks_with_warning(setup, caplog):
    config, variables, frames = setup
    out, tracker = run(config, variables, frames, capacity=4, limit=8)
    assert tracker.capacity == 8
    assert [len(f.ids) for f in out] == [8, 8, 8]
    assert "max_tracks_limit" in caplog.text


def test_frame_step_compiles_once_per_shape(setup):
    config, variables, frames = setup
    tracker = api.Tracker(config, variables)
    # The tracker's own step (model, thresholds, name) with a trace counter: the program of
    # test_capacity_growth_is_exact at capacity 4, which the persistent compilation cache of the
    # test session (conftest.py) gives back without compiling it again.
    traced = chex.assert_max_traces(frame_step.frame_step, n=1)
    step = jax.jit(functools.partial(traced, tracker.model, tracker.params))
    state = tracker.new_state()
    for frame in frames:
        image, mask = frame_preprocess.preprocess_frame(frame, 64, 96)
        state, _ = step(variables, state, image[None], mask[None], np.float32(frame.shape[:2]))
    chex.clear_trace_counter()
