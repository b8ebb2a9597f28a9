"""Scoring: our wrapper against `trackeval` called directly, textbook cases, frame interval, errors."""

from __future__ import annotations

import contextlib
import io
import pathlib

import numpy as np
import pytest
import trackeval

from sambamotr_jax.evaluation import trackeval_scores
from sambamotr_jax.formats import mot_text
from sambamotr_jax.formats.errors import InputError

# gt rows: (frame, id, x, y, w, h, mark, class, visibility); result rows: (frame, id, x, y, w, h).


def write_sequence(gt_root, tracker_dir, name, seq_length, gt_rows, result_rows):
    seq_dir = pathlib.Path(gt_root) / name
    (seq_dir / "gt").mkdir(parents=True, exist_ok=True)
    (seq_dir / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength={seq_length}\n")
    (seq_dir / "gt" / "gt.txt").write_text(
        "".join(",".join(str(v) for v in row) + "\n" for row in gt_rows)
    )
    tracker_dir = pathlib.Path(tracker_dir)
    tracker_dir.mkdir(parents=True, exist_ok=True)
    (tracker_dir / f"{name}.txt").write_text(
        "".join(mot_text.format_mot_line(*row) for row in result_rows)
    )
    return trackeval_scores.SequenceFiles(
        name, seq_dir / "gt" / "gt.txt", tracker_dir / f"{name}.txt", seq_length
    )


def two_walkers(num_frames, *, switch_at=None, drop=()):
    """Two far-apart people walking right; the tracker's boxes are exact. Object 1's track id
    changes from 11 to 12 at frame `switch_at`; frames in `drop` have no result rows."""
    gt, res = [], []
    for f in range(1, num_frames + 1):
        for obj, x0 in ((1, 10), (2, 400)):
            x = x0 + 4 * f
            gt.append((f, obj, x, 50, 40, 90, 1, 1, 1.0))
            if f in drop:
                continue
            track_id = 21 if obj == 2 else (12 if switch_at and f >= switch_at else 11)
            res.append((f, track_id, float(x), 50.0, 40.0, 90.0))
    return gt, res


def messy_sequences(root):
    """Two sequences with jitter, an id switch, misses, a false positive, a distractor (class 7,
    whose matched result is removed by TrackEval's preprocessing) and a zero-marked gt row."""
    rng = np.random.default_rng(0)
    seqs = []
    for name, seq_length, num_objects in (("seqA", 9, 3), ("seqB", 6, 2)):
        gt, res = [], []
        for f in range(1, seq_length + 1):
            for obj in range(1, num_objects + 1):
                x, y = 30 + 150 * obj + 3 * f, 40 + 10 * obj
                mark = 0 if (obj == 3 and f == 5) else 1
                gt.append((f, obj, x, y, 50, 100, mark, 1, 1.0))
                if obj == 3 and f >= 7:
                    continue  # missed
                track_id = 100 + obj if not (obj == 2 and f > seq_length // 2) else 200
                jitter = rng.normal(0.0, 4.0, size=4).astype(np.float32)
                box = np.float32([x, y, 50, 100]) + jitter
                res.append((f, track_id, *box))
            if f in (2, 3):
                gt.append((f, 9, 700, 300, 40, 80, 1, 7, 1.0))
                res.append((f, 300, 702.0, 301.0, 40.0, 80.0))
            if f == 4:
                res.append((f, 400, 5.0, 500.0, 30.0, 60.0))  # false positive
        seqs.append(
            write_sequence(root / "gt", root / "trackers" / "mine", name, seq_length, gt, res)
        )
    return seqs


def trackeval_directly(root, seqs):
    """The official `run_mot_challenge.py` setup (seqmap, SKIP_SPLIT_FOL, no sub folder)."""
    seqmap = root / "seqmap.txt"
    seqmap.write_text("name\n" + "".join(f"{s.name}\n" for s in seqs))
    evaluator = trackeval.Evaluator(
        {
            "USE_PARALLEL": False,
            "PRINT_RESULTS": False,
            "PRINT_CONFIG": False,
            "TIME_PROGRESS": False,
            "OUTPUT_SUMMARY": True,
            "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False,
            "LOG_ON_ERROR": None,
        }
    )
    dataset = trackeval.datasets.MotChallenge2DBox(
        {
            "GT_FOLDER": str(root / "gt"),
            "TRACKERS_FOLDER": str(root / "trackers"),
            "OUTPUT_FOLDER": str(root / "out"),
            "SEQMAP_FILE": str(seqmap),
            "SKIP_SPLIT_FOL": True,
            "TRACKER_SUB_FOLDER": "",
            "PRINT_CONFIG": False,
        }
    )
    metric_list = [
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
        trackeval.metrics.Identity({"PRINT_CONFIG": False}),
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        results, messages = evaluator.evaluate([dataset], metric_list)
    assert messages["MotChallenge2DBox"]["mine"] == "Success"
    summary_file = root / "out" / "mine" / "pedestrian_summary.txt"
    names, values = summary_file.read_text().splitlines()[:2]
    return results["MotChallenge2DBox"]["mine"], dict(
        zip(names.split(), values.split(), strict=True)
    )


def test_matches_trackeval_called_directly(tmp_path):
    seqs = messy_sequences(tmp_path)
    direct, direct_summary = trackeval_directly(tmp_path, seqs)
    scores = trackeval_scores.score_sequences(seqs)

    checked = {
        "HOTA": ["HOTA", "DetA", "AssA", "LocA"],
        "CLEAR": ["MOTA", "IDSW"],
        "Identity": ["IDF1"],
    }
    for name, ours in (("seqA", "seqA"), ("seqB", "seqB"), ("COMBINED_SEQ", "COMBINED")):
        for metric, fields in checked.items():
            for field in fields:
                np.testing.assert_array_equal(
                    scores.raw[ours][metric][field], direct[name]["pedestrian"][metric][field]
                )
    # The combined row is what TrackEval writes in pedestrian_summary.txt (the file the official
    # eval_engine reads), value for value.
    for key in trackeval_scores.SUMMARY_KEYS:
        assert scores.summary["COMBINED"][key] == float(direct_summary[key]), key
    # The data is messy enough to exercise every metric.
    combined = scores.summary["COMBINED"]
    assert combined["IDSW"] == 2
    assert 0 < combined["AssA"] < 100 and 0 < combined["DetA"] < 100 and combined["MOTA"] < 100


def test_perfect_tracker_scores_100(tmp_path):
    gt, res = two_walkers(6)
    seq = write_sequence(tmp_path / "gt", tmp_path / "res", "walk", 6, gt, res)
    assert trackeval_scores.score_sequences([seq]).summary["COMBINED"] == {
        "HOTA": 100.0, "DetA": 100.0, "AssA": 100.0, "LocA": 100.0,
        "IDF1": 100.0, "MOTA": 100.0, "IDSW": 0,
    }  # fmt: skip


def test_id_switch_lowers_assa_and_idf1_not_deta(tmp_path):
    gt, res = two_walkers(10, switch_at=6)
    seq = write_sequence(tmp_path / "gt", tmp_path / "res", "walk", 10, gt, res)
    row = trackeval_scores.score_sequences([seq]).summary["walk"]
    # 20 exact true positives. Association: object 1 splits 5/5 over tracks 11 and 12, each with
    # association score 5/10; object 2 scores 1: AssA = (10 * 0.5 + 10 * 1) / 20 = 0.75.
    # IDF1: IDTP 15, IDFN 5, IDFP 5 -> 30 / 40. MOTA: 1 - 1 IDSW / 20 gt.
    assert row == {
        "HOTA": 86.603, "DetA": 100.0, "AssA": 75.0, "LocA": 100.0,
        "IDF1": 75.0, "MOTA": 95.0, "IDSW": 1,
    }  # fmt: skip


def test_interval_scores_frames_1_plus_k_times_t(tmp_path):
    # seqLength 7, interval 2: int(7 / 2) = 3 frames are scored, 1, 3 and 5 (as SparseTrackEval).
    # The results are wrong on every other frame (even frames dropped, frame 7 dropped).
    gt, res = two_walkers(7, drop=(2, 4, 6, 7))
    seq = write_sequence(tmp_path / "gt", tmp_path / "res", "walk", 7, gt, res)
    assert trackeval_scores.score_sequences([seq], interval=2).summary["walk"]["HOTA"] == 100.0
    assert trackeval_scores.score_sequences([seq], interval=1).summary["walk"]["DetA"] < 100.0

    # Scoring with interval 2 is scoring the subsampled, renumbered files with interval 1.
    gt, res = two_walkers(7, switch_at=3)
    res = [r for r in res if r[0] != 5]
    seq = write_sequence(tmp_path / "gt", tmp_path / "res", "walk", 7, gt, res)
    sub_gt = [((r[0] + 1) // 2, *r[1:]) for r in gt if r[0] in (1, 3, 5)]
    sub_res = [((r[0] + 1) // 2, *r[1:]) for r in res if r[0] in (1, 3, 5)]
    sub = write_sequence(tmp_path / "gt", tmp_path / "res", "sub", 3, sub_gt, sub_res)
    sparse = trackeval_scores.score_sequences([seq], interval=2)
    dense = trackeval_scores.score_sequences([sub], interval=1)
    assert sparse.summary["walk"] == dense.summary["sub"]
    assert sparse.summary["walk"]["IDSW"] == 1 and sparse.summary["walk"]["DetA"] < 100
    np.testing.assert_array_equal(
        sparse.raw["walk"]["HOTA"]["HOTA"], dense.raw["sub"]["HOTA"]["HOTA"]
    )


def test_empty_result_file_scores_zero(tmp_path):
    gt, _ = two_walkers(3)
    seq = write_sequence(tmp_path / "gt", tmp_path / "res", "walk", 3, gt, [])
    row = trackeval_scores.score_sequences([seq]).summary["walk"]
    assert (row["HOTA"], row["DetA"], row["MOTA"], row["IDSW"]) == (0.0, 0.0, 0.0, 0)


def test_malformed_result_line_names_file_and_line(tmp_path):
    gt, res = two_walkers(3)
    seq = write_sequence(tmp_path / "gt", tmp_path / "res", "walk", 3, gt, res)
    lines = seq.tracker_file.read_text().splitlines(keepends=True)
    lines[2] = "2,11,12.5,abc,40,90,1,-1,-1,-1\n"
    seq.tracker_file.write_text("".join(lines))
    with pytest.raises(
        InputError, match=r"walk\.txt:3: a value that is not a number .*'2,11,12\.5,abc"
    ):
        trackeval_scores.score_sequences([seq])


def test_result_frame_past_sequence_end(tmp_path):
    gt, res = two_walkers(3)
    seq = write_sequence(
        tmp_path / "gt", tmp_path / "res", "walk", 3, gt, [*res, (4, 11, 1, 2, 3, 4)]
    )
    with pytest.raises(InputError, match=r"walk\.txt:7: frame 4 is past the end .*seqLength=3"):
        trackeval_scores.score_sequences([seq])


def test_gt_needs_class_columns(tmp_path):
    gt, res = two_walkers(2)
    seq = write_sequence(tmp_path / "gt", tmp_path / "res", "walk", 2, [r[:6] for r in gt], res)
    with pytest.raises(InputError, match=r"gt\.txt:1: a gt .* at least 8 columns, this file has 6"):
        trackeval_scores.score_sequences([seq])


def test_interval_longer_than_sequence(tmp_path):
    gt, res = two_walkers(2)
    seq = write_sequence(tmp_path / "gt", tmp_path / "res", "walk", 2, gt, res)
    with pytest.raises(InputError, match="no frame to score with interval 3"):
        trackeval_scores.score_sequences([seq], interval=3)
