"""TETA against numbers of the official code, and its defining properties."""

import json
import pathlib

import numpy as np
import pytest

from sambamotr_jax.evaluation import teta
from sambamotr_jax.formats import bdd100k_json

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "teta_official_numbers.json"


def _frames(video: str, num_frames: int, rows: list, *, gt: bool) -> list[dict]:
    frames = [
        {"name": f"{video}-{i + 1:07d}.jpg", "videoName": video, "frameIndex": i, "labels": []}
        for i in range(num_frames)
    ]
    for row in rows:
        index, track_id, category, x1, y1, x2, y2 = row[:7]
        label = {
            "id": str(track_id),
            "category": category,
            "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
        }
        if gt:
            label["attributes"] = {"occluded": False, "truncated": False, "crowd": bool(row[7])}
        frames[index]["labels"].append(label)
    return frames


def _load(tmp_path, name: str, video: str, frames: list[dict], *, gt: bool):
    path = tmp_path / ("gt" if gt else "res") / name / f"{video}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(frames))
    return bdd100k_json.read_bdd100k_json(path, is_gt=gt)


def _case(tmp_path, name: str, case: dict, results: dict | None = None):
    """(gt, result) Video pairs of a stored case; `results` replaces result frame lists."""
    pairs = []
    for video, d in sorted(case.items()):
        gt = _frames(video, d["num_frames"], d["gt"], gt=True)
        res = (results or {}).get(video) or _frames(video, d["num_frames"], d["result"], gt=False)
        pairs.append(
            (
                _load(tmp_path, name, video, gt, gt=True),
                _load(tmp_path, name, video, res, gt=False),
            )
        )
    return pairs


@pytest.fixture(scope="module")
def stored():
    return json.loads(DATA.read_text())


def test_official_numbers_reproduced(stored, tmp_path):
    assert set(stored["cases"]) == {"handmade", "random0", "random1", "random2"}
    for name, case in stored["cases"].items():
        scores = teta.score_teta(_case(tmp_path, name, case)).scores
        expected = stored["numbers"][name]
        assert set(expected) == {*bdd100k_json.CATEGORIES, teta.AVERAGE, teta.OVERALL}
        for key, row in expected.items():
            for metric, value in row.items():
                assert scores[key][metric] == pytest.approx(value, abs=1e-6), (name, key, metric)


def test_handmade_numbers_are_not_trivial(stored):
    # The stored case exercises every term: none of mTETA's components is 0 or 100.
    avg = stored["numbers"]["handmade"][teta.AVERAGE]
    assert 60 < avg["TETA"] < 70 and 80 < avg["LocA"] < 90
    assert 60 < avg["AssocA"] < 70 and 40 < avg["ClsA"] < 50


def _perfect_results(case: dict) -> dict:
    """Result frames equal to the gt minus crowd boxes (no distractors in the stored gt of
    random cases; the handmade case has one, dropped too)."""
    out = {}
    for video, d in case.items():
        rows = [r[:7] for r in d["gt"] if not r[7] and r[2] not in bdd100k_json.DISTRACTORS]
        out[video] = _frames(video, d["num_frames"], rows, gt=False)
    return out


@pytest.mark.parametrize("name", ["handmade", "random1"])
def test_perfect_tracker_scores_100(stored, tmp_path, name):
    case = stored["cases"][name]
    result = teta.score_teta(_case(tmp_path, name, case, _perfect_results(case)))
    present = {r[2] for d in case.values() for r in d["gt"] if not r[7]} - set(
        bdd100k_json.DISTRACTORS
    )
    for key in [*present, teta.AVERAGE, teta.OVERALL]:
        for metric, value in result.scores[key].items():
            assert value == pytest.approx(100.0, abs=1e-9), (key, metric)
    for key in set(bdd100k_json.CATEGORIES) - present:
        assert result.counts[key].empty


def _modified(case: dict, change) -> dict:
    """Perfect results with `change(video, row) -> row` applied to each result row."""
    out = {}
    for video, d in case.items():
        rows = [
            change(video, r[:7])
            for r in d["gt"]
            if not r[7] and r[2] not in bdd100k_json.DISTRACTORS
        ]
        out[video] = _frames(video, d["num_frames"], rows, gt=False)
    return out


def test_class_swap_lowers_cls_only(stored, tmp_path):
    case = stored["cases"]["handmade"]

    def swap(video, row):  # the car of vid-a predicted as a truck in frames 1 and 2
        if video == "vid-a" and row[2] == "car" and row[0] in (1, 2):
            return [*row[:2], "truck", *row[3:]]
        return row

    result = teta.score_teta(_case(tmp_path, "swap", case, _modified(case, swap))).scores
    summary = {k: result[teta.AVERAGE][k] for k in ("LocA", "AssocA", "ClsA", "TETA")}
    assert summary["LocA"] == pytest.approx(100.0) and summary["AssocA"] == pytest.approx(100.0)
    assert summary["ClsA"] < 100.0 and summary["TETA"] < 100.0
    # Car loses 2 of its 5 class TPs (FN). Truck keeps its 5 TPs and gets 4 FPs: 2 as the
    # wrong class of a car match, 2 more as truck predictions outside the truck cluster in
    # frames with truck gt (exhaustive), as the official code counts them.
    assert result["car"]["ClsA"] == pytest.approx(300 / 5)
    assert result["truck"]["ClsA"] == pytest.approx(500 / 9)
    assert result["car"]["LocA"] == pytest.approx(100.0)


def test_id_switch_lowers_assoc_only(stored, tmp_path):
    case = stored["cases"]["handmade"]

    def switch(video, row):  # the pedestrian of vid-a gets a new id from frame 2 on
        if video == "vid-a" and row[2] == "pedestrian" and row[0] >= 2:
            return [row[0], 77, *row[2:]]
        return row

    result = teta.score_teta(_case(tmp_path, "switch", case, _modified(case, switch))).scores
    avg = result[teta.AVERAGE]
    assert avg["LocA"] == pytest.approx(100.0) and avg["ClsA"] == pytest.approx(100.0)
    assert avg["AssocA"] < 100.0
    # 4 pedestrian frames split 2 + 2 between two tracks: each match has Jaccard 2 / 4.
    assert result["pedestrian"]["AssocA"] == pytest.approx(50.0)
    assert result["pedestrian"]["LocA"] == pytest.approx(100.0)


def test_box_iou_plus_one_convention():
    # Corners (0, 0, 9, 9) and (5, 0, 14, 9) are 10 x 10 boxes overlapping 5 x 10 pixels.
    boxes = teta._xywh_plus_one(np.array([[0.0, 0, 9, 9], [5, 0, 14, 9]]))
    np.testing.assert_array_equal(boxes, [[0, 0, 10, 10], [5, 0, 10, 10]])
    assert teta.box_iou(boxes[:1], boxes[1:])[0, 0] == pytest.approx(50 / 150)
    assert teta.box_iou(boxes[:1], boxes[1:], ioa=True)[0, 0] == pytest.approx(0.5)
