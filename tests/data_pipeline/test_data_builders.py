"""Builders: tiny official-layout trees -> ArrayRecord -> the same records back, exactly."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from data_pipeline import builders, dataset_layouts, synthetic_mot
from sambamotr_jax.formats.errors import InputError


def _write_image(path: str, h: int = 12, w: int = 16, value: int = 0) -> bytes:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = np.full((h, w, 3), value, np.uint8)
    img[: h // 2, : w // 2] = (value + 100) % 256
    ok, buf = cv2.imencode(os.path.splitext(path)[1], img)
    assert ok
    with open(path, "wb") as f:
        f.write(buf.tobytes())
    return buf.tobytes()


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _seqinfo(name: str, n: int, h: int = 12, w: int = 16, ext: str = ".jpg") -> str:
    return (
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=25\nseqLength={n}\n"
        f"imWidth={w}\nimHeight={h}\nimExt={ext}\n"
    )


def _mot_tree(base: str, split: str, gts: dict[str, str], digits: int, ext: str = ".jpg") -> dict:
    """DanceTrack-style split; returns {(seq, frame): image bytes} for frames 1..3."""
    images = {}
    _write(os.path.join(base, f"{split}_seqmap.txt"), "name\n" + "".join(f"{s}\n" for s in gts))
    for k, (seq, gt) in enumerate(gts.items()):
        seq_dir = os.path.join(base, split, seq)
        for t in (1, 2, 3):
            path = os.path.join(seq_dir, "img1", f"{t:0{digits}d}{ext}")
            images[(seq, t)] = _write_image(path, value=10 * t + k)
        _write(os.path.join(seq_dir, "gt", "gt.txt"), gt)
        _write(os.path.join(seq_dir, "seqinfo.ini"), _seqinfo(seq, 3, ext=ext))
    return images


def _records(split_records) -> list[dict]:
    return [split_records[i] for i in range(len(split_records))]


def _check(rec, seq, frame, image, boxes, ids, labels, vis=None):
    assert rec["sequence"] == seq
    assert rec["frame"] == frame
    assert rec["image"] == image  # the original encoded bytes, not re-encoded
    np.testing.assert_array_equal(rec["boxes"], np.asarray(boxes, np.float32).reshape(-1, 4))
    np.testing.assert_array_equal(rec["ids"], np.asarray(ids, np.int32))
    np.testing.assert_array_equal(rec["labels"], np.asarray(labels, np.int32))
    if vis is not None:
        np.testing.assert_array_equal(rec["visibility"], np.asarray(vis, np.float32))


GT_A = "1,1,2,3,4,5,1,1,1\n1,2,6.5,1,2,2,1,1,1\n3,1,3,3,4,5,1,1,1\n"
GT_B = "1,7,0,0,3,3,1,1,1\n2,7,1,1,3,3,1,1,1\n"


@pytest.mark.parametrize(
    "name,folder,digits", [("dancetrack", "DanceTrack", 8), ("sportsmot", "SportsMOT", 6)]
)
def test_dancetrack_layout_roundtrip(tmp_path, name, folder, digits):
    base = os.path.join(tmp_path, folder)
    images = _mot_tree(base, "train", {"seqA": GT_A, "seqB": GT_B}, digits)
    _mot_tree(base, "val", {"seqC": GT_B}, digits, ext=".png")
    recs = _records(builders.load_split(name, str(tmp_path), "train"))
    # seqA stores frames 1..3 (frame 2 has no object); seqB frames 1..2 (its last gt frame).
    assert [(r["sequence"], r["frame"]) for r in recs] == [
        ("seqA", 1), ("seqA", 2), ("seqA", 3), ("seqB", 1), ("seqB", 2),
    ]  # fmt: skip
    _check(recs[0], "seqA", 1, images[("seqA", 1)], [[2, 3, 4, 5], [6.5, 1, 2, 2]], [1, 2], [0, 0])
    _check(recs[1], "seqA", 2, images[("seqA", 2)], np.zeros((0, 4)), [], [])
    _check(recs[2], "seqA", 3, images[("seqA", 3)], [[3, 3, 4, 5]], [1], [0])
    _check(recs[4], "seqB", 2, images[("seqB", 2)], [[1, 1, 3, 3]], [7], [0])
    assert (recs[0]["height"], recs[0]["width"]) == (12, 16)
    split = builders.load_split(name, str(tmp_path), "train")
    assert [(s.name, s.start, s.first_frame, s.num_frames) for s in split.sequences] == [
        ("seqA", 0, 1, 3),
        ("seqB", 3, 1, 2),
    ]
    np.testing.assert_array_equal(split.sequences[0].num_objects, [2, 0, 1])
    assert split.sequences[0].frame_rate == 25.0
    assert split.frame(1, 2)["frame"] == 2 and split.frame(1, 2)["sequence"] == "seqB"
    val = _records(builders.load_split(name, str(tmp_path), "val"))
    assert [r["frame"] for r in val] == [1, 2]  # .png frames are read too


def test_bft_layout_roundtrip(tmp_path):
    base = os.path.join(tmp_path, "BFT")
    _write(os.path.join(base, "train_seqmap.txt"), "name\nbirdA\nbirdB\n")
    images = {}
    for k, seq in enumerate(("birdA", "birdB")):
        for t in (1, 2):
            images[(seq, t)] = _write_image(
                os.path.join(base, "train", seq, f"{t:06d}.jpg"), 20, 30, k
            )
    _write(
        os.path.join(base, "annotations_mot", "train", "birdA.txt"),
        "1,3,1,2,3,4,-1,-1,-1\n2,3,2,2,3,4,-1,-1,-1\n",
    )
    _write(os.path.join(base, "annotations_mot", "train", "birdB.txt"), "2,9,0,0,5,5,-1,-1,-1\n")
    split = builders.load_split("bft", str(tmp_path), "train")
    recs = _records(split)
    assert [(r["sequence"], r["frame"]) for r in recs] == [("birdA", 1), ("birdA", 2), ("birdB", 2)]
    _check(recs[1], "birdA", 2, images[("birdA", 2)], [[2, 2, 3, 4]], [3], [0])
    _check(recs[2], "birdB", 2, images[("birdB", 2)], [[0, 0, 5, 5]], [9], [0])
    assert (recs[0]["height"], recs[0]["width"]) == (20, 30)  # from the image, no seqinfo.ini


def test_mot17_official_filtering_and_ids(tmp_path):
    base = os.path.join(tmp_path, "MOT17", "images")
    # Two detector copies of one sequence plus a second sequence: only the SDP copies are kept.
    gt2 = (
        "1,5,10.7,20.2,30.9,40.5,1,1,0.8\n"
        "2,5,11,21,30,40,1,1,0.5\n"
        "1,6,1,1,2,2,0,1,1.0\n"  # ignore flag (mark 0): dropped
        "1,8,3,3,4,4,1,2,1.0\n"  # class 2 (not pedestrian): dropped
        "2,9,-4.5,2,3,3,1,1,0.0\n"  # visibility 0 is kept, as the official generator
    )
    gt4 = "1,2,5,5,5,5,1,1,1.0\n"
    images = {}
    _write(
        os.path.join(base, "train_seqmap.txt"),
        "name\nMOT17-02-FRCNN\nMOT17-02-SDP\nMOT17-04-SDP\n",
    )
    for seq, gt in (("MOT17-02-FRCNN", gt2), ("MOT17-02-SDP", gt2), ("MOT17-04-SDP", gt4)):
        seq_dir = os.path.join(base, "train", seq)
        for t in (1, 2):
            images[(seq, t)] = _write_image(os.path.join(seq_dir, "img1", f"{t:06d}.jpg"))
        _write(os.path.join(seq_dir, "gt", "gt.txt"), gt)
        _write(os.path.join(seq_dir, "seqinfo.ini"), _seqinfo(seq, 2))
    recs = _records(builders.load_split("mot17", str(tmp_path), "train"))
    assert [(r["sequence"], r["frame"]) for r in recs] == [
        ("MOT17-02-SDP", 1),
        ("MOT17-02-SDP", 2),
        ("MOT17-04-SDP", 1),
    ]
    # ids renumbered by the running counter (5 -> 1, 9 -> 2, then 2 -> 3 in the next sequence);
    # coordinates truncated to integers.
    _check(
        recs[0], "MOT17-02-SDP", 1, images[("MOT17-02-SDP", 1)], [[10, 20, 30, 40]], [1], [0], [0.8]
    )
    _check(
        recs[1], "MOT17-02-SDP", 2, images[("MOT17-02-SDP", 2)],
        [[11, 21, 30, 40], [-4, 2, 3, 3]], [1, 2], [0, 0], [0.5, 0.0],
    )  # fmt: skip
    _check(recs[2], "MOT17-04-SDP", 1, images[("MOT17-04-SDP", 1)], [[5, 5, 5, 5]], [3], [0])


def test_crowdhuman_odgt_pseudo_clips(tmp_path):
    base = os.path.join(tmp_path, "CrowdHuman")
    lines = [
        {"ID": "img_a", "gtboxes": [
            {"tag": "person", "fbox": [1.9, 2, 5, 6], "extra": {}},
            {"tag": "mask", "fbox": [0, 0, 3, 3], "extra": {"ignore": 1}},
            {"tag": "person", "fbox": [-3, 4, 10, 8]},
        ]},
        {"ID": "img_b", "gtboxes": [{"tag": "person", "fbox": [7, 7, 2, 2], "extra": {"ignore": 0}}]},
    ]  # fmt: skip
    _write(os.path.join(base, "annotation_val.odgt"), "".join(json.dumps(x) + "\n" for x in lines))
    img_a = _write_image(os.path.join(base, "images", "val", "img_a.jpg"), 14, 18)
    img_b = _write_image(os.path.join(base, "images", "val", "img_b.jpg"), 10, 10)
    recs = _records(builders.load_split("crowdhuman", str(tmp_path), "val"))
    _check(recs[0], "img_a", 1, img_a, [[1, 2, 5, 6], [-3, 4, 10, 8]], [0, 1], [0, 0])
    _check(recs[1], "img_b", 1, img_b, [[7, 7, 2, 2]], [2], [0])
    assert (recs[0]["height"], recs[0]["width"], recs[1]["height"]) == (14, 18, 10)


def test_bdd100k_json_eight_classes(tmp_path):
    base = os.path.join(tmp_path, "BDD100K")
    images = {}
    for vid in ("vid-a", "vid-b"):
        for t in (1, 2):
            p = os.path.join(base, "images", "track", "train", vid, f"{vid}-{t:07d}.jpg")
            images[(vid, t)] = _write_image(p, 8, 12)

    def obj(i, cat, x1, y1, x2, y2, crowd=False):
        return {"id": str(i), "category": cat, "attributes": {"crowd": crowd},
                "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2}}  # fmt: skip

    vid_a = [
        {"name": "vid-a-0000001.jpg", "videoName": "vid-a", "frameIndex": 0, "labels": [
            obj(11, "car", 1.25, 2.5, 5.75, 6.0),
            obj(12, "other vehicle", 0, 0, 1, 1),  # not one of the 8 classes: dropped
            obj(13, "pedestrian", 2, 2, 3, 4, crowd=True),  # crowd: dropped
            obj(14, "bicycle", 0.1, 0.2, 0.4, 0.8),
        ]},
        {"name": "vid-a-0000002.jpg", "videoName": "vid-a", "frameIndex": 1, "labels": [
            obj(11, "car", 2, 2.5, 6, 6.0), obj(15, "rider", 1, 1, 2, 2),
        ]},
    ]  # fmt: skip
    vid_b = [
        {"name": "vid-b-0000001.jpg", "videoName": "vid-b", "frameIndex": 0, "labels": []},
        {"name": "vid-b-0000002.jpg", "videoName": "vid-b", "frameIndex": 1,
         "labels": [obj(21, "train", 0, 0, 4, 4)]},
    ]  # fmt: skip
    _write(os.path.join(base, "labels", "box_track_20", "train", "vid-a.json"), json.dumps(vid_a))
    _write(os.path.join(base, "labels", "box_track_20", "train", "vid-b.json"), json.dumps(vid_b))
    split = builders.load_split("bdd100k", str(tmp_path), "train")
    recs = _records(split)
    assert [(r["sequence"], r["frame"]) for r in recs] == [("vid-a", 1), ("vid-a", 2), ("vid-b", 2)]
    _check(
        recs[0], "vid-a", 1, images[("vid-a", 1)],
        [[1.25, 2.5, 4.5, 3.5], [0.1, 0.2, 0.3, 0.6]], [11, 14], [2, 7],
    )  # fmt: skip
    _check(
        recs[1],
        "vid-a",
        2,
        images[("vid-a", 2)],
        [[2, 2.5, 4, 3.5], [1, 1, 1, 1]],
        [11, 15],
        [2, 1],
    )
    _check(recs[2], "vid-b", 2, images[("vid-b", 2)], [[0, 0, 4, 4]], [21], [5])
    assert split.sequences[1].first_frame == 2


def test_synthetic_multiclass_goes_through_the_builder(tmp_path):
    cfg = synthetic_mot.SyntheticConfig(
        width=40, height=32, num_frames=4, splits=(("train", 2),), num_classes=3,
        min_objects=2, max_objects=3, object_height=(8, 12), seed=3,
    )  # fmt: skip
    base = synthetic_mot.write_dataset(str(tmp_path), cfg)
    split = builders.load_split("synthetic", str(tmp_path), "train")
    recs = _records(split)
    assert len(recs) == 8
    for seq in ("synth0001", "synth0002"):
        gt_lines = open(os.path.join(base, "train", seq, "gt", "gt.txt")).read().split()
        for t in range(1, 5):
            rows = [list(map(int, ln.split(","))) for ln in gt_lines if ln.startswith(f"{t},")]
            rec = next(r for r in recs if r["sequence"] == seq and r["frame"] == t)
            with open(os.path.join(base, "train", seq, "img1", f"{t:08d}.jpg"), "rb") as f:
                image = f.read()
            _check(
                rec, seq, t, image,
                [r[2:6] for r in rows], [r[1] for r in rows], [r[7] - 1 for r in rows],
            )  # fmt: skip
    labels = np.concatenate([r["labels"] for r in recs])
    assert labels.min() >= 0 and labels.max() <= 2


def test_synthetic_generator_is_deterministic_and_draws_its_boxes(tmp_path):
    cfg = synthetic_mot.SyntheticConfig(
        width=64, height=48, num_frames=6, min_objects=3, max_objects=3
    )
    frames1, rows1 = synthetic_mot.simulate_sequence(cfg, np.random.default_rng(5))
    frames2, rows2 = synthetic_mot.simulate_sequence(cfg, np.random.default_rng(5))
    assert rows1 == rows2 and all(
        np.array_equal(a, b) for a, b in zip(frames1, frames2, strict=True)
    )
    body = np.array(synthetic_mot._CLASS_COLOURS[0])
    head = (body * 0.55).astype(int)
    for t, frame in enumerate(frames1, start=1):
        # Every object pixel (body or head colour) is inside a gt box and every box is filled
        # with object pixels: the boxes are exactly what is drawn.
        drawn = np.all(frame == body, -1) | np.all(frame == head, -1)
        union = np.zeros(drawn.shape, bool)
        for ft, _, x, y, w, h, c in rows1:
            if ft == t:
                assert c == 1 and 0 <= x and x + w <= 64 and 0 <= y and y + h <= 48
                union[y : y + h, x : x + w] = True
        np.testing.assert_array_equal(drawn, union)
    # Look-alike objects move: positions change over the sequence.
    first = {i: (x, y) for t, i, x, y, *_ in rows1 if t == 1}
    last = {i: (x, y) for t, i, x, y, *_ in rows1 if t == 6}
    assert any(first[i] != last[i] for i in first)


def test_sequence_reader(tmp_path):
    base = os.path.join(tmp_path, "DanceTrack")
    _mot_tree(base, "val", {"dance9": GT_A, "dance2": GT_B}, 8, ext=".png")
    assert dataset_layouts.list_sequences("DanceTrack", str(tmp_path), "val") == [
        "dance9",
        "dance2",
    ]
    seq = dataset_layouts.read_sequence("dancetrack", str(tmp_path), "val", "dance9")
    assert seq.frames == (1, 2, 3)
    assert seq.frame_paths[2] == os.path.join(base, "val", "dance9", "img1", "00000003.png")
    assert (seq.info.frame_rate, seq.info.im_width, seq.info.im_height, seq.info.seq_length) == (
        25.0,
        16,
        12,
        3,
    )
    assert sorted(seq.gt) == [1, 3]
    np.testing.assert_array_equal(seq.gt[1].ids, [1, 2])
    np.testing.assert_array_equal(seq.gt[3].boxes, [[3, 3, 4, 5]])
    os.remove(os.path.join(base, "val", "dance2", "gt", "gt.txt"))
    assert dataset_layouts.read_sequence("dancetrack", str(tmp_path), "val", "dance2").gt is None


# ---------------------------------------------------------------------------------------------
# Bad input names the file and the line.


def test_missing_seqmap_names_the_file(tmp_path):
    base = os.path.join(tmp_path, "DanceTrack")
    _mot_tree(base, "train", {"s1": GT_A}, 8)
    os.remove(os.path.join(base, "train_seqmap.txt"))
    with pytest.raises(InputError, match=r"DanceTrack/train_seqmap\.txt: seqmap file not found"):
        builders.load_split("dancetrack", str(tmp_path), "train")


def test_malformed_gt_line_names_file_and_line(tmp_path):
    base = os.path.join(tmp_path, "DanceTrack")
    _mot_tree(base, "train", {"s1": GT_A + "3,2,1,1,x,4,1,1,1\n"}, 8)
    with pytest.raises(
        InputError,
        match=r"s1/gt/gt\.txt:4: a value that is not a number in line '3,2,1,1,x,4,1,1,1'",
    ):
        builders.load_split("dancetrack", str(tmp_path), "train")
    _write(os.path.join(base, "train", "s1", "gt", "gt.txt"), "1,1,2,3,4,5,1,1,1\n1,2,3,4\n")
    with pytest.raises(
        InputError, match=r"s1/gt/gt\.txt:2: 4 columns, at least 9 needed in line '1,2,3,4'"
    ):
        builders.load_split("dancetrack", str(tmp_path), "train")
    _write(
        os.path.join(base, "train", "s1", "gt", "gt.txt"), "1,1,2,3,4,5,1,1,1\n1,2,3,4,5,6,0,1,1\n"
    )
    with pytest.raises(
        InputError, match=r"s1/gt/gt\.txt:2: check digits \(0, 1, 1\) != \(1, 1, 1\)"
    ):
        builders.load_split("dancetrack", str(tmp_path), "train")


def test_missing_image_names_the_frame(tmp_path):
    base = os.path.join(tmp_path, "DanceTrack")
    _mot_tree(base, "train", {"s1": GT_A}, 8)
    os.remove(os.path.join(base, "train", "s1", "img1", "00000002.jpg"))
    with pytest.raises(InputError, match=r"s1/img1: image of frame 2 of sequence s1 not found"):
        builders.load_split("dancetrack", str(tmp_path), "train")


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset name 'dancetrak'; known: bdd100k, bft"):
        builders.load_split("dancetrak", str(tmp_path), "train")


# ---------------------------------------------------------------------------------------------
# Checks of the ground truth (docs/data.md): boxes without area, frames past seqLength, ids twice
# in one frame; truncated images; prepared records whose sources changed.


def test_negative_size_box_is_an_error_naming_the_line(tmp_path):
    base = os.path.join(tmp_path, "DanceTrack")
    _mot_tree(base, "train", {"s1": GT_A + "3,2,1,1,-4,5,1,1,1\n"}, 8)
    with pytest.raises(
        InputError, match=r"s1/gt/gt\.txt:4: line '3,2,1,1,-4,5,1,1,1': box of negative size"
    ):
        builders.load_split("dancetrack", str(tmp_path), "train")


def test_zero_size_boxes_are_dropped_with_one_warning_per_file(tmp_path, caplog):
    base = os.path.join(tmp_path, "DanceTrack")
    gt = GT_A + "2,3,1,1,0,5,1,1,1\n3,3,1,1,4,0,1,1,1\n"
    images = _mot_tree(base, "train", {"s1": gt}, 8)
    recs = _records(builders.load_split("dancetrack", str(tmp_path), "train"))
    _check(recs[1], "s1", 2, images[("s1", 2)], np.zeros((0, 4)), [], [])
    _check(recs[2], "s1", 3, images[("s1", 3)], [[3, 3, 4, 5]], [1], [0])
    [warning] = [r for r in caplog.records if "gt box" in r.getMessage()]  # one per file
    assert warning.levelname == "WARNING"
    assert "s1/gt/gt.txt: 2 gt box(es) of zero width or height left out" in warning.getMessage()
    assert "(first: " in warning.getMessage()
    assert "gt.txt:4: line '2,3,1,1,0,5,1,1,1')" in warning.getMessage()


def test_box_sizes_in_crowdhuman_bdd100k_and_mot17(tmp_path, caplog):
    odgt = os.path.join(tmp_path, "CrowdHuman", "annotation_val.odgt")
    rec = {"ID": "a", "gtboxes": [{"fbox": [1, 1, 5, 5]}, {"fbox": [1, 1, 0, 5]}]}
    _write(odgt, json.dumps(rec) + "\n")
    [(_, ann)] = dataset_layouts.parse_crowdhuman_odgt(odgt)
    np.testing.assert_array_equal(ann.ids, [0])  # the dropped box keeps its official id 1
    assert f"{odgt}:1: gtboxes[1] fbox [1, 1, 0, 5])" in caplog.text
    _write(odgt, json.dumps({"ID": "a", "gtboxes": [{"fbox": [1, 1, 5, -5]}]}) + "\n")
    with pytest.raises(InputError, match=r"odgt:1: gtboxes\[0\] fbox \[1, 1, 5, -5\]: box of neg"):
        dataset_layouts.parse_crowdhuman_odgt(odgt)

    label = os.path.join(tmp_path, "v.json")
    box = {"x1": 5, "y1": 1, "x2": 2, "y2": 4}
    frame = {"name": "v-0000001.jpg", "videoName": "v", "frameIndex": 0,
             "labels": [{"id": "3", "category": "car", "box2d": box}]}  # fmt: skip
    _write(label, json.dumps([frame]))
    with pytest.raises(
        InputError, match=r"v\.json: frame 'v-0000001\.jpg', label 0 \(id '3'\): box of negative"
    ):
        dataset_layouts.parse_bdd100k_json(label)

    gt = os.path.join(tmp_path, "gt.txt")
    _write(gt, "1,1,1,1,5,5,1,1,1\n1,2,1,1,0.5,5,1,1,1\n")  # int(0.5) = 0: no area
    assert len(dataset_layouts.parse_mot17_gt(gt, [0, -1])[1].ids) == 1
    assert f"{gt}: 1 gt box(es) of zero width" in caplog.text


def test_gt_frame_past_seq_length_names_the_line(tmp_path):
    base = os.path.join(tmp_path, "DanceTrack")
    _mot_tree(base, "train", {"s1": GT_A + "4,1,3,3,4,5,1,1,1\n"}, 8)  # seqLength=3
    with pytest.raises(
        InputError, match=r"s1/gt/gt\.txt:4: frame 4 is past the end of the sequence \(seqLength=3"
    ):
        builders.load_split("dancetrack", str(tmp_path), "train")


def test_gt_id_twice_in_one_frame_names_the_line(tmp_path):
    base = os.path.join(tmp_path, "DanceTrack")
    _mot_tree(base, "train", {"s1": GT_A + "3,1,6,6,4,5,1,1,1\n"}, 8)
    with pytest.raises(
        InputError, match=r"s1/gt/gt\.txt:4: id 1 appears twice in frame 3 \(also line 3\)"
    ):
        builders.load_split("dancetrack", str(tmp_path), "train")


def test_truncated_image_is_not_stored(tmp_path):
    base = os.path.join(tmp_path, "DanceTrack")
    images = _mot_tree(base, "train", {"s1": GT_A}, 8)
    path = os.path.join(base, "train", "s1", "img1", "00000002.jpg")
    with open(path, "wb") as f:
        f.write(images[("s1", 2)][:-40])
    with pytest.raises(InputError, match=r"s1/img1/00000002\.jpg: truncated or corrupt JPEG"):
        builders.load_split("dancetrack", str(tmp_path), "train")


def test_prepared_records_with_changed_sources_are_refused_then_rebuilt(tmp_path, caplog):
    base = os.path.join(tmp_path, "DanceTrack")
    _mot_tree(base, "train", {"s1": GT_A}, 8)
    assert len(builders.load_split("dancetrack", str(tmp_path), "train")) == 3
    builders.load_split("dancetrack", str(tmp_path), "train")  # unchanged: opened as it is
    gt = os.path.join(base, "train", "s1", "gt", "gt.txt")
    _write(gt, GT_A.replace("3,1,3,3", "2,1,3,3"))  # frame 3's box moves to frame 2
    with pytest.raises(
        InputError,
        match=r"out of date: .*s1/gt/gt\.txt changed since they were built; rebuild them with "
        r"`python -m data_pipeline\.prepare --dataset dancetrack --root ",
    ):
        builders.load_split("dancetrack", str(tmp_path), "train")
    builders.prepare("dancetrack", str(tmp_path))
    assert "rebuilding the prepared records" in caplog.text and "gt.txt changed" in caplog.text
    split = builders.load_split("dancetrack", str(tmp_path), "train")
    assert [r["frame"] for r in _records(split)] == [1, 2]
