"""Multi-class tracking and BDD100K evaluation: the tracker's labels (argmax at birth, kept;
a miss judged on the track's own class), the label in the track_fn rows, the result json + MOT
text with the class column, MOT gt converted to BDD100K json, the BDD100K configs, and
train.py -> eval.py on the multi-class synthetic set."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import types

import jax.numpy as jnp
import numpy as np
import pytest

from configs import bdd100k, memotr_bdd100k, synthetic_multiclass
from sambamotr_jax import demo
from sambamotr_jax.evaluation import split_eval, trackeval_scores
from sambamotr_jax.formats import bdd100k_json
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.nn.box_ops import inverse_sigmoid
from sambamotr_jax.tracking import frame_step
from sambamotr_jax.tracking.track_state import empty_track_state
from sambamotr_jax.training import train_loop

REPO = pathlib.Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------
# The tracker's labels, with a scripted detector.


@dataclasses.dataclass(frozen=True)
class ScriptedModel:
    """Stands in for `TrackingModel` in `frame_step.frame_step`: the detector's class scores
    come from `variables` (`det` (Qd, C) for the detection queries, `track` (K, C) per track
    slot), boxes are fixed, the query updater keeps the queries."""

    n_det: int = 3
    query_dim: int = 2

    def apply(self, variables, *args, method):
        if method == "detect":
            det, track = variables["det"], variables["track"]
            scores = jnp.concatenate([det, track])  # (Qd + K, C)
            q = scores.shape[0]
            return {
                "pred_logits": inverse_sigmoid(scores)[None],
                "pred_boxes": jnp.tile(jnp.array([0.5, 0.5, 0.2, 0.2]), (1, q, 1)),
                "outputs": jnp.zeros((1, q, self.query_dim)),
            }
        if method == "new_track_queries":
            return jnp.zeros((self.n_det, self.query_dim)), jnp.full((self.n_det, 4), 0.5), {}
        if method == "update_queries":
            query_embed, ref_pts, *_, updater, _live = args
            return query_embed, ref_pts, updater
        raise ValueError(method)


def test_labels_are_the_argmax_at_birth_and_a_miss_uses_the_own_class():
    k, c = 4, 4
    model = ScriptedModel()
    params = frame_step.TrackerParams(miss_tolerance=2)
    step = frame_step.make_frame_step(model, params, donate=False)
    state = empty_track_state(k, model.query_dim, {})
    image, mask = jnp.zeros((1, 8, 8, 3)), jnp.zeros((1, 8, 8), bool)
    orig_hw = jnp.array([100.0, 100.0])
    low = np.full((k, c), 0.1, np.float32)

    def frame(state, det, track):
        v = {"det": jnp.asarray(det, jnp.float32), "track": jnp.asarray(track, jnp.float32)}
        return step(v, state, image, mask, orig_hw)

    # Frame 1: query 0 (best class 2) and query 2 (best class 1) are born; query 1 is not.
    det = [[0.1, 0.2, 0.9, 0.3], [0.4, 0.3, 0.2, 0.1], [0.2, 0.8, 0.1, 0.6]]
    state, r = frame(state, det, low)
    assert r["ids"].tolist() == [0, 1, -1, -1]
    assert r["labels"][:2].tolist() == [2, 1]
    assert r["keep"].tolist() == [True, True, False, False]

    # Frame 2: track 0's own class (2) drops to 0.3 while class 0 reaches 0.95: a miss, the
    # label stays 2, and the result (best score 0.95 > 0.5) is still written with label 2.
    # Track 1's class 3 overtakes its own class 1 (0.6 >= 0.5): no miss, label stays 1.
    track = low.copy()
    track[0] = [0.95, 0.1, 0.3, 0.1]
    track[1] = [0.1, 0.6, 0.1, 0.9]
    state, r = frame(state, np.full((3, c), 0.1), track)
    assert r["ids"].tolist() == [0, 1, -1, -1]
    assert state.labels[:2].tolist() == [2, 1]
    assert state.disappear_time[:2].tolist() == [1, 0]
    assert r["keep"][:2].tolist() == [True, True]
    np.testing.assert_allclose(r["scores"][:2], [0.95, 0.9], rtol=1e-6)

    # Frame 3: the second miss in a row reaches miss_tolerance 2: track 0 is gone; track 1
    # moves to slot 0 with its label.
    state, r = frame(state, np.full((3, c), 0.1), track)
    assert r["ids"].tolist() == [1, -1, -1, -1]
    assert state.labels[0] == 1 and state.disappear_time[0] == 0


# --------------------------------------------------------------------------------------------
# Rows with labels, result files.


def test_label_in_rows_leaves_mot_results_unchanged(tmp_path):
    frames = [tmp_path / f"{i:08d}.jpg" for i in range(1, 3)]
    rows6 = {1: [(3, 10.5, 20.0, 30.25, 40.0, 0.9)], 2: [(3, 11.5, 21.0, 30.0, 41.0, 0.8)]}

    def track_fn(with_label):
        def fn(paths, *, interval):
            for f, rows in rows6.items():
                yield f, [(*row, 5) if with_label else row for row in rows]

        return fn

    split_eval.track_sequence(track_fn(False), frames, tmp_path / "a.txt", progress=False)
    split_eval.track_sequence(track_fn(True), frames, tmp_path / "b.txt", progress=False)
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text()
    assert (tmp_path / "a.txt").read_text().startswith("1,3,10.5,20.0,30.25,40.0,1,-1,-1,-1")


def test_bdd100k_rows_give_back_the_float32_corners():
    corners = np.array(
        [[1e-9, 3.0e-8, 1279.99, 719.5], [-0.123, 5.5, 0.001, 6.25]], np.float32
    )  # x1 y1 x2 y2
    rows = []
    for i, (x1, y1, x2, y2) in enumerate(corners.tolist()):
        rows.append((7 + i, x1, y1, x2 - x1, y2 - y1, 0.9, 3 * i))
    out = split_eval.bdd100k_result_rows(rows)
    assert [(r[0], r[1]) for r in out] == [(7, 0), (8, 3)]
    np.testing.assert_array_equal(np.array([r[2:] for r in out]), corners.astype(np.float64))
    with pytest.raises(ValueError, match="label"):
        split_eval.bdd100k_result_rows([(1, 0.0, 0.0, 1.0, 1.0, 0.9)])


def _write_sequence(root: pathlib.Path, name: str, gt_lines: list[str], num_frames: int):
    seq = root / name
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    for i in range(1, num_frames + 1):
        (seq / "img1" / f"{i:08d}.jpg").write_bytes(b"")
    (seq / "gt" / "gt.txt").write_text("".join(line + "\n" for line in gt_lines))
    return seq


def test_mot_gt_to_bdd100k(tmp_path):
    seq = _write_sequence(
        tmp_path,
        "synth0001",
        [
            "1,1,10,20,30,40,1,3,1",
            "3,1,12,20,30,40,1,3,1",
            "3,2,5,6,7,8,1,8,1",
            "3,4,1,1,5,5,0,1,1",
        ],
        num_frames=3,
    )
    assert split_eval.mot_gt_to_bdd100k(seq, tmp_path / "gt.json") == 3
    entries = json.loads((tmp_path / "gt.json").read_text())
    assert [(e["name"], e["videoName"], e["frameIndex"]) for e in entries] == [
        ("00000001.jpg", "synth0001", 0),
        ("00000002.jpg", "synth0001", 1),
        ("00000003.jpg", "synth0001", 2),
    ]
    assert entries[1]["labels"] == []
    first = entries[0]["labels"][0]
    assert (first["id"], first["category"]) == ("1", "car")
    assert first["box2d"] == {"x1": 10.0, "y1": 20.0, "x2": 40.0, "y2": 60.0}
    assert [lab["category"] for lab in entries[2]["labels"]] == ["car", "bicycle"]
    # The scorer's reader accepts it.
    video = bdd100k_json.read_bdd100k_json(tmp_path / "gt.json", is_gt=True)
    assert video.frame_indices == [0, 1, 2]

    bad = _write_sequence(tmp_path, "bad", ["1,1,0,0,5,5,1,9,1"], num_frames=1)
    with pytest.raises(InputError, match="class 9"):
        split_eval.mot_gt_to_bdd100k(bad, tmp_path / "bad.json")


def _gt_track_fn(seq_dirs):
    """A track_fn that returns each sequence's gt (read back from gt.txt) as its results."""
    by_frames = {}
    for seq in seq_dirs:
        rows: dict[int, list] = {}
        for line in (seq / "gt" / "gt.txt").read_text().splitlines():
            f, i, x, y, w, h, _, cls, _ = line.split(",")
            rows.setdefault(int(f), []).append(
                (int(i), float(x), float(y), float(w), float(h), 0.9, int(cls) - 1)
            )
        by_frames[seq.name] = rows

    def track_fn(frames, *, interval):
        assert interval == 1
        rows = by_frames[frames[0].parent.parent.name]
        for f in range(1, len(frames) + 1):
            yield f, rows.get(f, [])

    return track_fn


def test_run_split_bdd100k_writes_json_and_text_and_scores(tmp_path):
    split = tmp_path / "data" / "val"
    gt_a = ["1,1,10,20,30,40,1,1,1", "2,1,12,20,30,40,1,1,1", "2,2,50,60,20,20,1,3,1"]
    gt_b = ["1,5,1,2,30,30,1,3,1", "2,5,2,2,30,30,1,3,1"]
    seqs = [_write_sequence(split, "a", gt_a, 2), _write_sequence(split, "b", gt_b, 2)]
    calls = []

    def factory():
        calls.append(1)
        return _gt_track_fn(seqs)

    scores = split_eval.run_split_bdd100k(factory, split, tmp_path / "out", progress=False)
    out = tmp_path / "out" / "val" / "tracker"
    entries = json.loads((out / "a.json").read_text())
    assert entries[1] == {
        "name": "00000002.jpg",
        "videoName": "a",
        "frameIndex": 1,
        "labels": [
            {
                "id": "1",
                "category": "pedestrian",
                "box2d": {"x1": 12.0, "y1": 20.0, "x2": 42.0, "y2": 60.0},
            },
            {
                "id": "2",
                "category": "car",
                "box2d": {"x1": 50.0, "y1": 60.0, "x2": 70.0, "y2": 80.0},
            },
        ],
    }
    assert (out / "a.txt").read_text().splitlines() == [
        "1,1,10.0,20.0,30.0,40.0,1,1,-1,-1",
        "2,1,12.0,20.0,30.0,40.0,1,1,-1,-1",
        "2,2,50.0,60.0,20.0,20.0,1,3,-1,-1",
    ]
    assert sorted(p.name for p in (tmp_path / "out" / "val" / "gt_bdd100k").iterdir()) == [
        "a.json",
        "b.json",
    ]
    # The gt as results: perfect on the classes present (pedestrian, car).
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"mTETA", "mLocA", "mAssocA", "mClsA", "mHOTA", "mMOTA", "mIDF1"}
    assert summary == scores.summary
    for cls in ("pedestrian", "car"):
        assert summary["classes"][cls]["HOTA"] == pytest.approx(100.0)
        assert summary["classes"][cls]["TETA"] == pytest.approx(100.0)
    # Existing results are kept: the tracker is not even built again.
    split_eval.run_split_bdd100k(factory, split, tmp_path / "out", progress=False)
    assert len(calls) == 1


def test_evaluate_checkpoint_bdd100k_layout_and_interval(tmp_path):
    config = memotr_bdd100k.get_config()
    root = tmp_path / "root"
    (root / "BDD100K" / "images" / "track" / "val").mkdir(parents=True)
    gt_dir = root / "BDD100K" / "labels" / "box_track_20" / "val"
    gt_dir.mkdir(parents=True)
    assert split_eval.bdd100k_split_paths(root, "BDD100K", "val") == (
        root / "BDD100K" / "images" / "track" / "val",
        gt_dir,
    )
    assert split_eval.bdd100k_split_paths(root / "BDD100K", "BDD100K", "val")[1] == gt_dir
    config.data.root = str(root)
    config.eval.interval = 2
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(InputError, match="every frame"):
        split_eval.evaluate_checkpoint(
            config, tmp_path / "ckpt", split="val", workdir=tmp_path, build_track_fn=None
        )


def test_periodic_evaluation_of_a_bdd100k_config_tracks_and_scores_as_bdd100k(
    tmp_path, monkeypatch
):
    """train_lib's periodic evaluation on the official BDD100K layout: the BDD100K split paths,
    json results, TETA; the logged scores are mTETA, mHOTA... (a perfect fake tracker)."""
    root = tmp_path / "root"
    frames_dir = root / "BDD100K" / "images" / "track" / "val" / "vid-a"
    frames_dir.mkdir(parents=True)
    names = [f"vid-a-{i:07d}.jpg" for i in range(1, 4)]
    for name in names:
        (frames_dir / name).write_bytes(b"")
    boxes = {0: [(1, 0, 10.0, 20.0, 40.0, 60.0)], 1: [(1, 0, 12.0, 20.0, 42.0, 60.0)]}
    boxes[2] = [(1, 0, 14.0, 20.0, 44.0, 60.0), (7, 2, 100.0, 50.0, 180.0, 90.0)]
    gt_dir = root / "BDD100K" / "labels" / "box_track_20" / "val"
    gt_dir.mkdir(parents=True)
    gt = [
        {
            "name": name,
            "videoName": "vid-a",
            "frameIndex": i,
            "labels": [
                {
                    "id": str(tid),
                    "category": bdd100k_json.CATEGORIES[cls],
                    "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
                    "attributes": {"occluded": False, "truncated": False, "crowd": False},
                }
                for tid, cls, x1, y1, x2, y2 in boxes[i]
            ],
        }
        for i, name in enumerate(names)
    ]
    (gt_dir / "vid-a.json").write_text(json.dumps(gt))

    def fake_make_track_fn(config, export):
        assert pathlib.Path(export).name == "step_3"

        def track_fn(frames, *, interval):
            for f in range(1, len(frames) + 1):
                rows = boxes[f - 1]
                yield f, [(t, x1, y1, x2 - x1, y2 - y1, 0.9, c) for t, c, x1, y1, x2, y2 in rows]

        return track_fn

    config = memotr_bdd100k.get_config()
    split = train_loop.eval_split(config, str(root))
    assert split == split_eval.EvalSplit(frames_dir.parent, None, gt_dir, "bdd100k")
    monkeypatch.setattr(train_loop.sequence_runner, "make_track_fn", fake_make_track_fn)
    state = types.SimpleNamespace(params={"w": jnp.ones(2)}, buffers={})
    scores = train_loop.evaluate(config, state, 3, tmp_path / "run", split)
    assert set(scores) == set(trackeval_scores.BDD100K_SUMMARY_KEYS)
    assert scores["mTETA"] == pytest.approx(100.0) and scores["HOTA"] == pytest.approx(100.0)
    out = tmp_path / "run" / "eval" / "step_3" / "val" / "tracker"
    assert [e["frameIndex"] for e in json.loads((out / "vid-a.json").read_text())] == [0, 1, 2]
    assert (tmp_path / "run" / "exports" / "step_3" / "model.json").is_file()
    assert train_loop.eval_message(3, scores).startswith("step 3: mTETA 100.00, mHOTA ")

    # A multi-class model on a MOT-layout split is scored the same way; BDD100K needs interval 1.
    multi = synthetic_multiclass.get_config()
    assert split_eval.default_result_format(multi) == "bdd100k"
    config.eval.interval = 2
    with pytest.raises(InputError, match="periodic evaluation: BDD100K results need every frame"):
        train_loop.eval_split(config, str(root))


# --------------------------------------------------------------------------------------------
# Configs, drawing.


def test_bdd100k_configs_follow_the_official_yaml():
    c = memotr_bdd100k.get_config()
    assert (c.data.dataset, c.model.num_classes, c.model.query_updater, c.model.use_dab) == (
        "BDD100K",
        8,
        "memotr",
        True,
    )
    t = c.tracker
    assert (t.det_score_thresh, t.track_score_thresh, t.result_score_thresh) == (0.5, 0.5, 0.5)
    assert t.miss_tolerance == 10
    d = c.data
    assert (d.sample_steps, d.sample_lengths, d.sample_intervals) == ((6, 10), (2, 3, 4), (4, 4, 4))
    assert (d.max_size, d.crop_min_size, d.crop_max_size, d.overflow_bbox) == (1333, 384, 600, True)
    assert c.train.epochs == 13 and c.train.no_grad_frames == (0,)
    o = c.optim
    assert (o.lr, o.lr_backbone, o.lr_points, o.weight_decay) == (2e-4, 2e-5, 1e-5, 2e-4)
    assert (o.lr_drop_milestones, o.only_train_query_updater_after) == ((12,), 1000)
    assert split_eval.is_bdd100k(c)
    # Every frame size the augmentation makes fits a pad bucket: long side <= 1333.
    assert (
        max(h for h, _ in d.pad_buckets) >= max(d.scales)
        and max(w for _, w in d.pad_buckets) >= d.max_size
    )

    s = bdd100k.get_config()
    assert (s.model.query_updater, s.model.use_dab, s.model.num_classes) == ("samba", False, 8)
    assert s.data.to_dict() == c.data.to_dict() and s.tracker.to_dict() == c.tracker.to_dict()
    assert s.optim.to_dict() == c.optim.to_dict() and s.train.to_dict() == c.train.to_dict()


def test_demo_tags_boxes_with_the_class():
    # The labels drawn with these names: tests/tracking/test_draw.py.
    assert demo.demo_class_names(1) is None
    assert demo.demo_class_names(8)[2] == "car"
    assert demo.demo_class_names(3) == ("class 0", "class 1", "class 2")


# --------------------------------------------------------------------------------------------
# train.py -> eval.py on the multi-class synthetic set.


def _run(args, env, timeout=900):
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_train_then_eval_multiclass_synthetic_as_bdd100k(tmp_path):
    # os.environ carries the session's persistent compilation cache (conftest.py).
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    # Thresholds 0: every detection query becomes a track, so labels reach the files. The
    # periodic evaluation tracks with the thresholds of the eval.py run below: the same compiled
    # frame steps, which eval.py then reads from the compilation cache.
    zero_thresholds = [
        "--config.tracker.det_score_thresh=0.0",
        "--config.tracker.track_score_thresh=0.0",
        "--config.tracker.result_score_thresh=0.0",
        "--config.tracker.area_thresh=0.0",
    ]
    run = tmp_path / "run"
    _run(
        [
            "train.py",
            "--config=configs/synthetic_multiclass.py",
            f"--workdir={run}",
            "--config.train.max_steps=2",
            "--config.eval.every_steps=2",  # writes the export that eval.py reads
            *zero_thresholds,
        ],
        env,
    )
    # The periodic evaluation of the multi-class model was BDD100K: json results, mTETA logged.
    periodic = run / "eval" / "step_2" / "val"
    assert (periodic / "tracker" / "synth0003.json").is_file()
    assert (periodic / "gt_bdd100k" / "synth0003.json").is_file()
    evals = [json.loads(x) for x in (run / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [2] and {"mTETA", "mHOTA"} <= set(evals[0])
    gt = (run / "data" / "SyntheticMOT" / "val" / "synth0003" / "gt" / "gt.txt").read_text()
    assert {int(line.split(",")[7]) for line in gt.splitlines()} <= {1, 2, 3, 4}
    assert synthetic_multiclass.get_config().model.num_classes == 4

    out = tmp_path / "eval"
    proc = _run(
        [
            "eval.py",
            "--config=configs/synthetic_multiclass.py",
            f"--config.data.root={run / 'data'}",
            f"--checkpoint={run / 'exports' / 'step_2'}",
            f"--workdir={out}",
            "--format=bdd100k",
            "--noprogress",
            *zero_thresholds,
        ],
        env,
    )
    tracker = out / "val" / "tracker"
    entries = json.loads((tracker / "synth0003.json").read_text())
    assert [e["frameIndex"] for e in entries] == list(range(12))
    labels = [lab for e in entries for lab in e["labels"]]
    # 8 detection queries are born each frame; never missed, until max_tracks_limit 16 is full.
    assert [len(e["labels"]) for e in entries] == [8] + [16] * 11
    assert {lab["category"] for lab in labels} <= set(bdd100k_json.CATEGORIES[:4])
    # A track keeps its category in every frame.
    categories: dict[str, set[str]] = {}
    for lab in labels:
        categories.setdefault(lab["id"], set()).add(lab["category"])
    assert len(categories) == 16 and all(len(c) == 1 for c in categories.values())
    # The MOT text holds the same tracks with the class column (category index + 1).
    text = [line.split(",") for line in (tracker / "synth0003.txt").read_text().splitlines()]
    by_id = {lab["id"]: lab["category"] for lab in labels}
    assert len(text) == len(labels)
    for f in text:
        assert bdd100k_json.CATEGORIES[int(f[7]) - 1] == by_id[f[1]]
    assert (out / "val" / "gt_bdd100k" / "synth0003.json").is_file()
    summary = json.loads((tracker / "summary.json").read_text())
    for key in ("mTETA", "mLocA", "mAssocA", "mClsA", "mHOTA", "mMOTA", "mIDF1"):
        assert np.isfinite(summary[key]), key
    assert 0.0 <= summary["mTETA"] <= 100.0
    assert "TETA" in proc.stdout and "AVERAGE" in proc.stdout
