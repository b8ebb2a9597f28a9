"""End to end against the official runs: converted weights, our preprocessing, our jitted tracker.

For SambaMOTR (Deformable-DETR) and MeMOTR (DAB-Deformable-DETR), per frame: the detector outputs
of every live query row, alive track ids, the track state after the query updater, and the MOT
lines of tracker.txt. The step is compiled once per fixture and run once; the tests read the
recorded run.
"""

import json

import jax
import numpy as np
import pytest

from configs import dancetrack, memotr_dancetrack
from sambamotr_jax import api
from sambamotr_jax.tracking import sequence_runner
from sambamotr_jax.weights import conversion, torch_state
from tests import official_fixture
from tests.conftest import shared_path

CAPACITY = 20  # more than the 14-15 live tracks of the runs: padding must not change anything

FIXTURES = {
    "official_def_detr": (dancetrack, ("hidden_state", "conv_history")),
    "official_memotr_dab_detr": (memotr_dancetrack, ("long_memory", "last_output")),
}


def rel_error(ours, official):
    ours, official = np.asarray(ours, np.float64), np.asarray(official, np.float64)
    assert ours.shape == official.shape, f"{ours.shape} vs {official.shape}"
    if not ours.size:
        return 0.0
    return np.abs(ours - official).max() / max(np.abs(official).max(), 1e-12)


def fixture_tracker_inputs(name: str):
    """(config, converted variables, frames, meta) of an official fixture's tracker run: its
    thresholds, 256x352 frames, capacity CAPACITY (also used by test_supervision_tracker.py)."""
    root = shared_path("fixtures", name)
    config_module, _ = FIXTURES[name]
    meta = json.loads((root / "meta.json").read_text())
    config = official_fixture.tracker_config(config_module, meta)
    config.tracker.max_tracks = CAPACITY
    variables, report, _ = conversion.convert_state(
        torch_state.load_torch_checkpoint(root / "weights.pth"), config
    )
    assert report.missing == [] and report.unexpected == [] and report.mis_shaped == []
    frames = list(np.load(root / "inputs.npz")["frames_uint8"])
    return config, variables, frames, meta


@pytest.fixture(scope="module", params=list(FIXTURES))
def run(request):
    """Tracks the fixture's frames once, recording what each test compares."""
    name = request.param
    root = shared_path("fixtures", name)
    updater_fields = FIXTURES[name][1]
    config, variables, frames, meta = fixture_tracker_inputs(name)
    tracker = api.Tracker(config, variables, return_detections=True)
    records = []
    for frame in tracker.track_frames(frames):
        state = jax.device_get(tracker.state)
        records.append({"frame": frame, "detections": tracker.last_detections, "state": state})
    return {
        "name": name,
        "meta": meta,
        "official": np.load(root / "outputs.npz"),
        "tracker_txt": (root / "tracker.txt").read_text().splitlines(),
        "records": records,
        "updater_fields": updater_fields,
    }


def test_detector_outputs_match_official(run):
    official, records = run["official"], run["records"]
    live_before = np.zeros(CAPACITY, bool)
    for t, rec in enumerate(records):
        n_live = int(live_before.sum())
        rows = np.r_[np.arange(300), 300 + np.arange(n_live)]
        det = rec["detections"]
        for ours, theirs in [
            ("pred_logits", "pred_logits"),
            ("pred_boxes", "pred_bboxes"),
            ("outputs", "outputs"),
            ("aux_last_queries", "aux_last_queries"),
            ("last_ref_pts", "last_ref_pts"),
            ("init_ref_pts", "init_ref_pts"),
        ]:
            err = rel_error(det[ours][rows], official[f"f{t}/{theirs}"])
            assert err <= 1e-4, f"{run['name']} frame {t} {ours}: {err:.3g}"
        aux = rel_error(det["aux_pred_logits"][:, rows], official[f"f{t}/aux_pred_logits"])
        assert aux <= 1e-4, f"frame {t} aux_pred_logits: {aux:.3g}"
        live_before = np.asarray(rec["state"].live)


def test_alive_ids_and_track_state_match_official(run):
    official, records = run["official"], run["records"]
    for t, rec in enumerate(records):
        state = rec["state"]
        live = np.asarray(state.live)
        expected = run["meta"]["inference"]["per_frame"][t]["alive_ids_after_update"]
        assert np.asarray(state.ids)[live].tolist() == expected, f"frame {t} ids"
        fields = {"query_embed": state.query_embed, "ref_pts": state.ref_pts}
        fields.update({n: state.updater[n] for n in run["updater_fields"]})
        for name, value in fields.items():
            err = rel_error(np.asarray(value)[live], official[f"f{t}/track_{name}"])
            assert err <= 1e-4, f"{run['name']} frame {t} {name}: {err:.3g}"
        # Padding slots stay clean.
        assert (np.asarray(state.ids)[~live] == -1).all()


def test_mot_lines_reproduce_tracker_txt(run):
    lines = [line for rec in run["records"] for line in sequence_runner.mot_lines(rec["frame"])]
    expected = run["tracker_txt"]
    assert len(lines) == len(expected)
    for ours, theirs in zip(lines, expected):
        a, b = ours.strip().split(","), theirs.split(",")
        assert a[:2] == b[:2] and a[6:] == b[6:], (ours, theirs)
        np.testing.assert_allclose(
            [float(x) for x in a[2:6]], [float(x) for x in b[2:6]], atol=1e-3
        )
