"""Clip sampling, clip augmentations, static-shape batches and the grain loader."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

import data_pipeline as dp
from data_pipeline import sampling, synthetic_mot, transforms
from data_pipeline.builders import SequenceIndex
from data_pipeline.transforms import Clip

# ---------------------------------------------------------------------------------------------
# Sampling.


def _seq(first: int, counts) -> SequenceIndex:
    return SequenceIndex("s", 0, first, np.asarray(counts, np.int32), 25.0, 64, 48)


def test_stage_schedule():
    cfg = dp.SamplerConfig(
        sample_steps=(6, 10, 14), sample_lengths=(2, 3, 4, 5), sample_intervals=(10,)
    )  # MeMOTR DanceTrack
    got = [sampling.stage_for_epoch(cfg, e) for e in (0, 5, 6, 9, 10, 14, 30)]
    assert [s.length for s in got] == [2, 2, 3, 3, 4, 5, 5]
    assert {s.interval for s in got} == {10} and {s.mode for s in got} == {"random_interval"}
    cfg = dp.SamplerConfig(
        sample_steps=(6, 10), sample_lengths=(2, 3, 4), sample_intervals=(4, 4, 4)
    )
    assert sampling.stage_for_epoch(cfg, 10) == sampling.Stage(4, "random_interval", 4)


def test_begin_frames_video_and_dense():
    # Frames 3..12 stored; objects on 4..11 except 7.
    counts = [0, 1, 1, 1, 0, 1, 1, 1, 1, 0]
    seq = _seq(3, counts)
    np.testing.assert_array_equal(seq.annotated_frames, [4, 5, 6, 8, 9, 10, 11])
    starts = sampling.begin_frames([seq, seq], sampling.VIDEO, 3)
    # t in [t_min, t_max - (L - 1)] = [4, 9], for each sequence.
    np.testing.assert_array_equal(starts[:, 1], [4, 5, 6, 7, 8, 9] * 2)
    np.testing.assert_array_equal(starts[:, 0], [0] * 6 + [1] * 6)
    dense = sampling.begin_frames([seq], sampling.VIDEO_DENSE, 3)  # BDD100K: t..t+2 annotated
    np.testing.assert_array_equal(dense[:, 1], [4, 8, 9])
    static = sampling.begin_frames([_seq(1, [4]), _seq(1, [0])], sampling.STATIC, 5)
    np.testing.assert_array_equal(static, [[0, 1], [1, 1]])


def test_clip_frames_respect_length_and_interval():
    seq = _seq(1, [1] * 100)  # frames 1..100, t_max = 100
    stage = sampling.Stage(5, "random_interval", 10)
    rng = np.random.default_rng(0)
    seen = set()
    for begin in range(1, 97):
        for _ in range(5):
            frames, interval = sampling.clip_frames(seq, sampling.VIDEO, begin, stage, rng)
            max_interval = (100 - begin) // 4
            assert 1 <= interval <= min(10, max_interval)
            assert frames == [begin + k * interval for k in range(5)]
            assert frames[-1] <= 100
            seen.add(interval)
    assert seen == set(range(1, 11))  # every interval 1..10 occurs
    frames, interval = sampling.clip_frames(seq, sampling.VIDEO, 96, stage, rng)
    assert (frames, interval) == ([96, 97, 98, 99, 100], 1)  # capped by the sequence end
    frames, interval = sampling.clip_frames(_seq(1, [3]), sampling.STATIC, 1, stage, rng)
    assert (frames, interval) == ([1] * 5, 1)


def test_dense_clips_fall_back_to_consecutive_frames():
    counts = [1] * 12
    counts[6] = 0  # frame 7 has no object
    seq = _seq(1, counts)
    stage = sampling.Stage(3, "random_interval", 4)
    rng = np.random.default_rng(1)
    outs = set()
    for _ in range(200):
        frames, interval = sampling.clip_frames(seq, sampling.VIDEO_DENSE, 1, stage, rng)
        assert 7 not in frames
        outs.add((tuple(frames), interval))
    # Intervals 1, 2, 4 are kept; interval 3 reaches frame 7 and falls back to consecutive frames.
    assert outs == {((1, 2, 3), 1), ((1, 3, 5), 2), ((1, 5, 9), 4)}


# ---------------------------------------------------------------------------------------------
# Augmentations.


def test_resized_hw_matches_official_get_new_hw():
    assert transforms.resized_hw(1080, 1920, 800, 1536) == (800, 1422)
    assert transforms.resized_hw(1080, 1920, 992, 1536) == (864, 1536)  # capped by max_size
    assert transforms.resized_hw(1920, 1080, 800, 1536) == (1422, 800)  # portrait: round()
    assert transforms.resized_hw(720, 1280, 608, 1536) == (608, 1080)  # int(608 * 1280 / 720)
    assert transforms.resized_hw(1080, 1920, 1000, None) == (1000, 1777)


def _clip(boxes_per_frame, h=20, w=30) -> Clip:
    n = len(boxes_per_frame)
    return Clip(
        images=[np.zeros((h, w, 3), np.uint8) for _ in range(n)],
        boxes=[np.asarray(b, np.float32).reshape(-1, 4) for b in boxes_per_frame],
        ids=[np.arange(len(b), dtype=np.int32) + 1 for b in boxes_per_frame],
        labels=[np.zeros(len(b), np.int32) for b in boxes_per_frame],
        frames=list(range(1, n + 1)),
    )


def test_flip_moves_boxes_exactly():
    clip = _clip([[[2, 3, 10, 8]], [[0, 0, 30, 20]]])
    clip.images[0][3, 2] = 255
    transforms.hflip(clip)
    np.testing.assert_array_equal(clip.boxes[0], [[20, 3, 28, 8]])
    np.testing.assert_array_equal(clip.boxes[1], [[0, 0, 30, 20]])
    assert clip.images[0][3, 27, 0] == 255  # pixel x=2 -> 30 - 1 - 2


def test_crop_moves_clamps_and_drops_boxes():
    clip = _clip([[[2, 3, 10, 8], [12, 12, 28, 19], [25, 0, 29, 4]]])
    transforms._crop_boxes(clip, 0, top=2, left=5, h=14, w=18, overflow=False)
    # Shifted by (5, 2), clamped to 18x14; the third box (x from 20) is left of... outside.
    np.testing.assert_array_equal(clip.boxes[0], [[0, 1, 5, 6], [7, 10, 18, 14]])
    np.testing.assert_array_equal(clip.ids[0], [1, 2])
    clip = _clip([[[2, 3, 10, 8], [12, 12, 28, 19], [25, 0, 29, 4]]])
    transforms._crop_boxes(clip, 0, top=2, left=5, h=14, w=18, overflow=True)
    np.testing.assert_array_equal(clip.boxes[0], [[-3, 1, 5, 6], [7, 10, 23, 17]])


def test_random_crop_is_one_window_for_the_clip():
    clip = _clip([[[0, 0, 30, 20]]] * 3, h=20, w=30)
    for t in range(3):
        clip.images[t] = np.arange(20 * 30 * 3, dtype=np.int64).reshape(20, 30, 3).astype(np.uint8)
    cfg = dp.AugmentConfig(
        select_prob=0.0, crop_resize_scales=(20,), crop_min_size=8, crop_max_size=16
    )
    params, _ = transforms.draw_augment(np.random.default_rng(3), 20, 30, cfg)
    assert params.crop_resize == 20 and params.crop is not None
    transforms.crop(clip, *params.crop, overflow=False)
    shapes = {img.shape for img in clip.images}
    assert len(shapes) == 1
    h, w, _ = shapes.pop()
    assert 8 <= h <= 16 and 8 <= w <= 16
    assert all(np.array_equal(clip.images[0], img) for img in clip.images)
    for b in clip.boxes:  # the full-image box becomes the full crop
        np.testing.assert_array_equal(b, [[0, 0, w, h]])


COLOURS = np.array([[230, 30, 30], [30, 230, 30], [30, 30, 230], [230, 230, 30]], np.uint8)


def _drawn_clip(rng, t=4, h=90, w=160) -> Clip:
    """Four coloured rectangles (one colour per id) moving across a black frame."""
    images, boxes = [], []
    base = np.array([[10, 10, 40, 50], [60, 20, 90, 70], [100, 5, 150, 35], [20, 72, 55, 88]])
    for k in range(t):
        img = np.zeros((h, w, 3), np.uint8)
        b = base + np.array([3 * k, 0, 3 * k, 0])
        for c, (x1, y1, x2, y2) in zip(COLOURS, b, strict=True):
            img[y1:y2, x1:x2] = c
        images.append(img)
        boxes.append(b.astype(np.float32))
    return Clip(images, boxes, [np.array([11, 12, 13, 14], np.int32)] * t,
                [np.zeros(4, np.int32)] * t, list(range(1, t + 1)))  # fmt: skip


def test_augmentations_keep_each_box_on_its_object():
    cfg = dp.AugmentConfig(
        scales=(48, 64, 80), max_size=150, crop_resize_scales=(60, 90), crop_min_size=40,
        crop_max_size=70, hsv_gains=(0, 0, 0), reverse_clip_prob=0.5,
    )  # fmt: skip
    colour_of = dict(zip([11, 12, 13, 14], COLOURS.astype(int), strict=True))
    checked = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        params, out_hw = transforms.draw_augment(rng, 90, 160, cfg)
        clip = transforms.augment_clip(_drawn_clip(rng), params, cfg)
        assert {img.shape[:2] for img in clip.images} == {out_hw}
        assert len(set(clip.frames)) == 4 and clip.frames in ([1, 2, 3, 4], [4, 3, 2, 1])
        for img, boxes, ids in zip(clip.images, clip.boxes, clip.ids, strict=True):
            h, w = img.shape[:2]
            for (cx, cy, bw, bh), i in zip(boxes, ids, strict=True):
                x1, x2 = int(np.ceil((cx - bw / 2) * w)), int((cx + bw / 2) * w)
                y1, y2 = int(np.ceil((cy - bh / 2) * h)), int((cy + bh / 2) * h)
                inner = img[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1].astype(int)
                if inner.size == 0:
                    continue
                # The inside of the box (its border pixels blend with the background after a
                # resize) is the object's colour.
                err = np.abs(inner - colour_of[int(i)]).max(axis=-1)
                assert np.mean(err < 40) > 0.95, (seed, i)
                # And the object's colour is inside its box: no pixel of it beyond one pixel.
                near = np.abs(img.astype(int) - colour_of[int(i)]).max(axis=-1) < 20
                ys, xs = np.nonzero(near)
                assert (
                    xs.min() >= x1 - 1 and xs.max() <= x2 and ys.min() >= y1 - 1 and ys.max() <= y2
                )
                checked += 1
    assert checked > 300


def test_hsv_jitter_is_shared_by_the_clip():
    rng = np.random.default_rng(0)
    clip = _drawn_clip(rng, t=3)
    for t in range(3):
        clip.images[t] = clip.images[0].copy()
    transforms.hsv_jitter(clip, (3, -20, 12))
    assert np.array_equal(clip.images[0], clip.images[1]) and np.array_equal(
        clip.images[0], clip.images[2]
    )


def test_normalize_and_pad_static_shapes():
    clip_a = _clip([[[0, 0, 30, 20]], [[3, 3, 6, 6], [0, 0, 1, 1], [1, 1, 2, 2]]], h=20, w=30)
    clip_b = _clip([[], [[0, 0, 2, 2]]], h=10, w=12)
    for c in (clip_a, clip_b):
        transforms.normalize_boxes(c)
        c.images = [np.full(img.shape, 255, np.uint8) for img in c.images]
    cfg = dp.PadConfig(buckets=((16, 16), (24, 32), (64, 64)), max_objects=2)
    out = transforms.pad_clips(
        [clip_a, clip_b], cfg, transforms.IMAGENET_MEAN, transforms.IMAGENET_STD
    )
    assert out["images"].shape == (2, 2, 24, 32, 3)  # first bucket that holds 20x30
    assert out["boxes"].shape == (2, 2, 2, 4) and out["ids"].shape == (2, 2, 2)
    np.testing.assert_array_equal(out["frame_sizes"], [[[20, 30], [20, 30]], [[10, 12], [10, 12]]])
    np.testing.assert_array_equal(out["pad_mask"][1, 0].sum(), 24 * 32 - 10 * 12)
    assert not out["pad_mask"][0, 0, :20, :30].any() and out["pad_mask"][0, 0, 20:, :].all()
    expected = (1.0 - np.array(transforms.IMAGENET_MEAN)) / np.array(transforms.IMAGENET_STD)
    np.testing.assert_allclose(out["images"][0, 0, 5, 5], expected, rtol=1e-6)
    assert (out["images"][0, 0, 20:] == 0).all()
    np.testing.assert_array_equal(out["boxes"][0, 0, 0], [0.5, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(out["obj_mask"], [[[1, 0], [1, 1]], [[0, 0], [1, 0]]])
    np.testing.assert_array_equal(out["ids"], [[[1, -1], [1, 2]], [[-1, -1], [1, -1]]])
    np.testing.assert_array_equal(out["num_dropped_objects"], [[0, 1], [0, 0]])
    with pytest.raises(ValueError, match="no pad bucket holds a 20x30 frame"):
        transforms.pad_clips([clip_a], dp.PadConfig(buckets=((16, 16),)), (0, 0, 0), (1, 1, 1))


# ---------------------------------------------------------------------------------------------
# The loader on the synthetic dataset.

SMALL_AUG = dp.AugmentConfig(
    scales=(64, 80, 96), max_size=160, crop_resize_scales=(80, 96), crop_min_size=48,
    crop_max_size=96, reverse_clip_prob=0.5,
)  # fmt: skip
SMALL_PAD = dp.PadConfig(buckets=((96, 160), (160, 96), (160, 160)), max_objects=8)
SAMPLER = dp.SamplerConfig(sample_steps=(1,), sample_lengths=(2, 3), sample_intervals=(4,))


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synth"))
    cfg = synthetic_mot.SyntheticConfig(
        width=128, height=96, num_frames=12, splits=(("train", 3),), min_objects=3, max_objects=5
    )
    synthetic_mot.write_dataset(root, cfg)
    return root


def _loader(root, **kw):
    args = dict(
        sampler=SAMPLER, augment=SMALL_AUG, pad=SMALL_PAD, batch_size=2, seed=3, num_epochs=2
    )
    args.update(kw)
    return dp.build_train_loader("synthetic", root, **args)


def test_loader_batches_have_the_promised_shapes(synth_root):
    loader, plan = _loader(synth_root)
    # Epoch 0: L=2 -> 3 sequences x 11 starts = 33 clips -> 16 batches; epoch 1: L=3 -> 30 -> 15.
    assert plan.steps_per_epoch == [16, 15] and len(plan) == 31
    records = dp.load_split("synthetic", synth_root, "train")
    for k, batch in enumerate(iter(loader)):
        b, t = batch["ids"].shape[:2]
        assert (b, t) == (2, 2 if k < 16 else 3)
        h, w = batch["images"].shape[2:4]
        assert (h, w) in SMALL_PAD.buckets
        assert batch["images"].shape == (b, t, h, w, 3) and batch["images"].dtype == np.float32
        assert batch["pad_mask"].shape == (b, t, h, w) and batch["pad_mask"].dtype == bool
        assert batch["boxes"].shape == (b, t, 8, 4) and batch["obj_mask"].shape == (b, t, 8)
        assert batch["labels"].dtype == np.int32 and batch["ids"].dtype == np.int32
        for i in range(b):
            assert batch["epoch"][i] == (0 if k < 16 else 1)
            frames = batch["frame_indices"][i]
            steps = np.abs(np.diff(frames))
            assert len(set(steps)) == 1 and steps[0] == batch["intervals"][i] <= 4
            for j in range(t):
                fh, fw = batch["frame_sizes"][i, j]
                assert (~batch["pad_mask"][i, j]).sum() == fh * fw
                assert not batch["pad_mask"][i, j, :fh, :fw].any()
                live = batch["obj_mask"][i, j]
                assert (batch["ids"][i, j][~live] == -1).all()
                assert (
                    (batch["boxes"][i, j][live] >= -1e-6) & (batch["boxes"][i, j][live] <= 1 + 1e-6)
                ).all()
            # Ids stay consistent through the clip: every live id is a track of the sequence,
            # each appears at most once per frame, and a track's class never changes.
            ids = batch["ids"][i][batch["obj_mask"][i]]
            assert ((ids >= 1) & (ids <= 5)).all()
            for j in range(t):
                live_ids = batch["ids"][i, j][batch["obj_mask"][i, j]]
                assert len(set(live_ids)) == len(live_ids)
    assert records.sequences[0].num_frames == 12


def test_loader_is_deterministic_resumable_and_sharded(synth_root):
    loader, _ = _loader(synth_root)
    it = iter(loader)
    first = [next(it) for _ in range(3)]
    state = it.get_state()
    fourth = next(it)
    again = iter(_loader(synth_root)[0])
    assert all(np.array_equal(first[0][k], v) for k, v in next(again).items())
    again.set_state(state)
    assert all(np.array_equal(fourth[k], v) for k, v in next(again).items())
    # Two hosts with batch 1 see exactly the two halves of one host's batch of 2.
    hosts = [iter(_loader(synth_root, batch_size=1, shard=(p, 2))[0]) for p in (0, 1)]
    halves = [next(h) for h in hosts]
    for k, v in first[0].items():
        np.testing.assert_array_equal(np.concatenate([halves[0][k], halves[1][k]]), v)
    other_seed = next(iter(_loader(synth_root, seed=4)[0]))
    assert not np.array_equal(other_seed["frame_indices"], first[0]["frame_indices"])


def test_hsv_lookup_table_equals_the_official_int16_arithmetic():
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    for augs in [(3, -20, 12), (-5, 30, -30), (0, 0, 0), (-4, 29, 0)]:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + augs[0]) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] + augs[1], 0, 255)
        hsv[..., 2] = np.clip(hsv[..., 2] + augs[2], 0, 255)
        official = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
        clip = Clip(
            [img.copy()],
            [np.zeros((0, 4), np.float32)],
            [np.zeros(0, np.int32)],
            [np.zeros(0, np.int32)],
        )
        transforms.hsv_jitter(clip, augs)
        np.testing.assert_array_equal(clip.images[0], official)


def test_uint8_output_normalizes_to_the_float32_batch(synth_root):
    batch = next(iter(_loader(synth_root)[0]))
    raw_pad = dp.PadConfig(buckets=SMALL_PAD.buckets, max_objects=8, image_dtype="uint8")
    raw = next(iter(_loader(synth_root, pad=raw_pad)[0]))
    assert raw["images"].dtype == np.uint8
    for k in batch:
        if k != "images":
            np.testing.assert_array_equal(raw[k], batch[k])
    again = transforms.normalize_images(raw["images"], raw["pad_mask"])
    np.testing.assert_allclose(again, batch["images"], atol=1e-5)


def test_worker_processes_give_the_same_batches_and_resume_across_worker_counts(synth_root):
    kw = dict(sampler=SAMPLER, augment=SMALL_AUG, pad=SMALL_PAD, batch_size=2, seed=3, num_epochs=2)
    in_process = dp.build_train_iterator("synthetic", synth_root, **kw)
    workers = dp.build_train_iterator("synthetic", synth_root, num_workers=2, **kw)
    for _ in range(3):
        a, b = next(in_process), next(workers)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    state = workers.get_state()
    assert state == {"step": 3}
    fourth = next(workers)
    resumed = dp.build_train_iterator("synthetic", synth_root, **kw)
    resumed.set_state(state)
    for k, v in next(resumed).items():
        np.testing.assert_array_equal(v, fourth[k])
    assert resumed.get_state() == {"step": 4} and resumed.plan.steps_per_epoch == [16, 15]


def test_mot17_joint_training_with_crowdhuman_pseudo_clips(tmp_path):
    root = str(tmp_path)
    rng = np.random.default_rng(0)

    def write(path, text=None):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if text is None:
            cv2.imwrite(path, rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
        else:
            with open(path, "w") as f:
                f.write(text)

    seq = f"{root}/MOT17/images/train/MOT17-02-SDP"
    write(f"{root}/MOT17/images/train_seqmap.txt", "name\nMOT17-02-SDP\n")
    write(
        f"{seq}/seqinfo.ini",
        "[Sequence]\nname=MOT17-02-SDP\nframeRate=30\nseqLength=6\nimWidth=80\nimHeight=60\n",
    )
    write(f"{seq}/gt/gt.txt", "".join(f"{t},4,{10 + t},10,20,30,1,1,1.0\n" for t in range(1, 7)))
    for t in range(1, 7):
        write(f"{seq}/img1/{t:06d}.jpg")
    odgt = [{"ID": f"ch{k}", "gtboxes": [{"fbox": [5, 5, 30, 40]}]} for k in range(4)]
    write(f"{root}/CrowdHuman/annotation_val.odgt", "".join(json.dumps(r) + "\n" for r in odgt))
    for k in range(4):
        write(f"{root}/CrowdHuman/images/val/ch{k}.jpg")
    sampler = dp.SamplerConfig(
        sample_lengths=(3,), sample_intervals=(2,), use_crowdhuman=True, mot17_join_epoch=1
    )
    aug = dp.AugmentConfig(
        scales=(48, 60), max_size=100, crop_resize_scales=(60,), crop_min_size=30, crop_max_size=50,
        shift_max=5,
    )  # fmt: skip
    loader, plan = dp.build_train_loader(
        "mot17", root, sampler=sampler, augment=aug,
        pad=dp.PadConfig(buckets=((100, 100),), max_objects=4), batch_size=1, seed=0, num_epochs=2,
    )  # fmt: skip
    # Epoch 0: the 4 CrowdHuman images; epoch 1: + 4 MOT17 clips (begin frames 1..4).
    assert plan.steps_per_epoch == [4, 8]
    batches = list(iter(loader))
    for b in batches[:4]:
        assert (b["frame_indices"] == 1).all() and (b["intervals"] == 1).all()
    mot = [b for b in batches[4:] if len(set(b["frame_indices"][0])) > 1]
    assert len(mot) == 4
    for b in mot:
        f = b["frame_indices"][0]
        assert abs(f[1] - f[0]) == b["intervals"][0] <= 2
        assert set(b["ids"][0][b["obj_mask"][0]]) <= {1}  # the one MOT17 track, renumbered


_SHARED_MEMORY_RUN = """
import sys
import jax
import numpy as np
sys.path[:0] = [{repo!r}, {repo!r} + "/tests/data_pipeline"]
import data_pipeline as dp
from test_data_pipeline import SAMPLER, SMALL_AUG, SMALL_PAD

if __name__ == "__main__":
    it = dp.build_train_iterator("synthetic", {root!r}, sampler=SAMPLER, augment=SMALL_AUG,
                                 pad=SMALL_PAD, batch_size=2, seed=3, num_workers=1)
    kept = []
    for _ in range(4):
        batch = next(it)
        assert all(type(v) is np.ndarray and v.flags.owndata for v in batch.values())
        kept.append(jax.device_put(batch))  # a training loop keeps device copies around
    import multiprocessing
    assert multiprocessing.active_children(), "expected a grain worker process"
    it.close()
    assert not multiprocessing.active_children(), multiprocessing.active_children()
    print("ok", len(kept))
"""


def test_worker_batches_leave_shared_memory_and_close_stops_the_workers(synth_root, tmp_path):
    """Batches kept on the device past the loader's life leave no shared memory at exit."""
    repo = str(pathlib.Path(__file__).resolve().parents[2])
    script = tmp_path / "run.py"
    script.write_text(_SHARED_MEMORY_RUN.format(repo=repo, root=str(synth_root)))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=repo
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ok 4" in out.stdout
    assert "leaked shared_memory" not in out.stderr, out.stderr[-3000:]
