"""BDD100K files (writer, checked reader), scoring through eval_lib / eval.py, and the
standard metrics against TrackEval called directly."""

import contextlib
import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import trackeval

from sambamotr_jax.evaluation import split_eval, teta, trackeval_scores
from sambamotr_jax.formats import bdd100k_json
from sambamotr_jax.formats.errors import InputError

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "teta_official_numbers.json"


# --------------------------------------------------------------------------------------------
# Writer.


def test_write_results_official_layout(tmp_path):
    x2 = np.float32(30.3)
    frames = [
        (0, "v1-0000001.jpg", "v1", [(3, 2, 10.5, 20.0, x2, 80.0), (7, 7, 1.0, 2.0, 3.0, 4.0)]),
        (1, "v1-0000002.jpg", "v1", []),
    ]
    path = tmp_path / "v1.json"
    bdd100k_json.write_bdd100k_results(path, frames)
    assert json.loads(path.read_text()) == [
        {
            "name": "v1-0000001.jpg",
            "videoName": "v1",
            "frameIndex": 0,
            "labels": [
                {
                    "id": "3",
                    "category": "car",
                    "box2d": {"x1": 10.5, "y1": 20.0, "x2": float(x2), "y2": 80.0},
                },
                {
                    "id": "7",
                    "category": "bicycle",
                    "box2d": {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0},
                },
            ],
        },
        {"name": "v1-0000002.jpg", "videoName": "v1", "frameIndex": 1, "labels": []},
    ]
    video = bdd100k_json.read_bdd100k_json(path, is_gt=False)
    assert video.frame_indices == [0, 1]
    assert video.frames[0].labels[0] == bdd100k_json.Label(
        "3", "car", (10.5, 20.0, float(x2), 80.0)
    )

    text = tmp_path / "v1.txt"
    bdd100k_json.write_bdd100k_mot_text(text, frames)
    assert text.read_text() == (
        f"1,3,10.5,20.0,{float(x2) - 10.5},60.0,1,3,-1,-1\n1,7,1.0,2.0,2.0,2.0,1,8,-1,-1\n"
    )
    with pytest.raises(ValueError, match="label index"):
        bdd100k_json.write_bdd100k_results(
            tmp_path / "bad.json", [(0, "a", "v", [(1, 8, 0, 0, 1, 1)])]
        )


# --------------------------------------------------------------------------------------------
# Reader errors.


def _label(track_id="1", category="car", box=(0.0, 0.0, 10.0, 10.0)):
    return {"id": track_id, "category": category, "box2d": dict(zip(("x1", "y1", "x2", "y2"), box))}


def _write(path, frames):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(frames))
    return path


def _frame(index, labels, video="v"):
    return {
        "name": f"{video}-{index + 1:07d}.jpg",
        "videoName": video,
        "frameIndex": index,
        "labels": labels,
    }


def test_unknown_category_names_file_and_entry(tmp_path):
    path = _write(
        tmp_path / "v.json", [_frame(0, [_label()]), _frame(1, [_label(), _label("2", "van")])]
    )
    with pytest.raises(
        InputError,
        match=r"v\.json: frame entry 1 \('v-0000002\.jpg'\), label 1: unknown category 'van'",
    ):
        bdd100k_json.read_bdd100k_json(path, is_gt=False)
    # Distractors are valid in gt (ignore regions) but not in results.
    path = _write(tmp_path / "d.json", [_frame(0, [_label(category="trailer")])])
    assert bdd100k_json.read_bdd100k_json(path, is_gt=True).frames[0].labels[0].ignore_region
    with pytest.raises(InputError, match="label 0: unknown category 'trailer'"):
        bdd100k_json.read_bdd100k_json(path, is_gt=False)


def test_missing_frame_names_file_and_frame(tmp_path):
    gt = bdd100k_json.read_bdd100k_json(
        _write(tmp_path / "gt" / "v.json", [_frame(i, [_label()]) for i in range(3)]), is_gt=True
    )
    result = bdd100k_json.read_bdd100k_json(
        _write(tmp_path / "res" / "v.json", [_frame(0, [_label()]), _frame(2, [])]), is_gt=False
    )
    with pytest.raises(
        InputError, match=r"res/v\.json: no entry for frameIndex 1 \('v-0000002\.jpg'\)"
    ):
        bdd100k_json.check_same_frames(gt, result)


@pytest.mark.parametrize(
    "frames, message",
    [
        ([_frame(0, [_label(), _label()])], "frame entry 0 .*label 1: id '1' twice"),
        ([_frame(0, [_label(box=(0, 0, float("nan"), 1))])], "label 0: box2d.x2 must be a finite"),
        ([_frame(0, []), _frame(0, [])], "frameIndex 0 appears twice"),
        ([{"name": "a", "videoName": "v", "labels": []}], "frame entry 0 .*'frameIndex' must be"),
        ({"frames": []}, "expected a json list of frames"),
    ],
)
def test_malformed_entries(tmp_path, frames, message):
    path = tmp_path / "v.json"
    path.write_text(json.dumps(frames))  # NaN is written as the bare token NaN
    with pytest.raises(InputError, match=message):
        bdd100k_json.read_bdd100k_json(path, is_gt=False)


# --------------------------------------------------------------------------------------------
# Scoring.


def _case_folders(tmp_path, case: dict) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes a stored case as <tmp>/gt/<video>.json and <tmp>/res/<video>.json."""
    for video, d in case.items():
        for kind, rows in (("gt", d["gt"]), ("res", d["result"])):
            frames = [_frame(i, [], video) for i in range(d["num_frames"])]
            for row in rows:
                label = _label(str(row[1]), row[2], tuple(row[3:7]))
                if kind == "gt":
                    label["attributes"] = {
                        "occluded": False,
                        "truncated": False,
                        "crowd": bool(row[7]),
                    }
                frames[row[0]]["labels"].append(label)
            _write(tmp_path / kind / f"{video}.json", frames)
    return tmp_path / "gt", tmp_path / "res"


def _trackeval_directly(gt_dir: pathlib.Path, res_dir: pathlib.Path, tmp_path) -> dict:
    """TrackEval's own Evaluator on its BDD100K layout (key `index`, `attributes.Crowd`)."""
    for src, dst in ((gt_dir, tmp_path / "te_gt"), (res_dir, tmp_path / "te_tr" / "t" / "data")):
        dst.mkdir(parents=True)
        for name in (p.name for p in gt_dir.glob("*.json")):
            frames = json.loads((src / name).read_text())
            for f in frames:
                f["index"] = f.pop("frameIndex")
                for label in f["labels"]:
                    if "attributes" in label:
                        label["attributes"] = {"Crowd": label["attributes"]["crowd"]}
            (dst / name).write_text(json.dumps(frames))
    evaluator = trackeval.Evaluator(
        {
            "USE_PARALLEL": False,
            "PRINT_RESULTS": False,
            "PRINT_CONFIG": False,
            "TIME_PROGRESS": False,
            "OUTPUT_SUMMARY": False,
            "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False,
        }
    )
    dataset = trackeval.datasets.BDD100K(
        {
            "GT_FOLDER": str(tmp_path / "te_gt"),
            "TRACKERS_FOLDER": str(tmp_path / "te_tr"),
            "OUTPUT_FOLDER": str(tmp_path / "te_out"),
            "PRINT_CONFIG": False,
        }
    )
    with contextlib.redirect_stdout(io.StringIO()):
        out, _ = evaluator.evaluate(
            [dataset],
            [
                trackeval.metrics.HOTA(),
                trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
                trackeval.metrics.Identity({"PRINT_CONFIG": False}),
            ],
        )
    return out["BDD100K"]["t"]["COMBINED_SEQ"]


@pytest.fixture(scope="module")
def stored():
    return json.loads(DATA.read_text())


@pytest.mark.parametrize("name", ["handmade", "random1"])
def test_score_bdd100k_results(stored, tmp_path, name):
    gt_dir, res_dir = _case_folders(tmp_path, stored["cases"][name])
    summary = split_eval.score_bdd100k_results(gt_dir, res_dir).summary
    assert json.loads((res_dir / split_eval.SUMMARY_JSON).read_text()) == summary
    assert set(trackeval_scores.BDD100K_SUMMARY_KEYS) <= set(summary)
    assert (
        res_dir / split_eval.SUMMARY_TABLE
    ).read_text() == trackeval_scores.format_bdd100k_table(summary)

    official = stored["numbers"][name]
    for key in ("TETA", "LocA", "AssocA", "ClsA"):
        assert summary[f"m{key}"] == pytest.approx(official[teta.AVERAGE][key], abs=1e-6)
        for cls in bdd100k_json.CATEGORIES:
            assert summary["classes"][cls][key] == pytest.approx(official[cls][key], abs=1e-6)
    assert summary["TETA"] == pytest.approx(official[teta.OVERALL]["TETA"], abs=1e-6)

    direct = _trackeval_directly(gt_dir, res_dir, tmp_path)
    for prefix, key in (("m", "cls_comb_cls_av"), ("", "cls_comb_det_av")):
        assert summary[f"{prefix}HOTA"] == np.mean(direct[key]["HOTA"]["HOTA"]) * 100
        assert summary[f"{prefix}MOTA"] == direct[key]["CLEAR"]["MOTA"] * 100
        assert summary[f"{prefix}IDF1"] == direct[key]["Identity"]["IDF1"] * 100
    for cls in bdd100k_json.CATEGORIES:
        assert summary["classes"][cls]["MOTA"] == direct[cls]["CLEAR"]["MOTA"] * 100
    assert 0 < summary["mHOTA"] < 100 and 0 < summary["MOTA"] < 100


def test_eval_py_score_bdd100k(stored, tmp_path):
    gt_dir, res_dir = _case_folders(tmp_path, {"vid-b": stored["cases"]["handmade"]["vid-b"]})
    cmd = [
        sys.executable,
        "eval.py",
        "--score",
        "--format=bdd100k",
        f"--gt_root={gt_dir}",
        f"--tracker_dir={res_dir}",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "AVERAGE" in done.stdout and "bicycle" in done.stdout
    summary = json.loads((res_dir / "summary.json").read_text())
    assert set(summary) == {*trackeval_scores.BDD100K_SUMMARY_KEYS, "classes"}

    frames = json.loads((res_dir / "vid-b.json").read_text())
    frames[1]["labels"][0]["category"] = "person"
    (res_dir / "vid-b.json").write_text(json.dumps(frames))
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert (
        "vid-b.json: frame entry 1 ('vid-b-0000002.jpg'), label 0: unknown category 'person'"
        in done.stderr
    )
