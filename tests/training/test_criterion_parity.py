"""Criterion + train-mode track selection against the official 3-frame training clips.

The fixtures store the official model outputs of every frame, so the criterion runs on them
alone: padded to a fixed track capacity and object capacity (the padding filled with junk), jitted,
with the track ids/IoUs carried frame to frame by our own selection.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from sambamotr_jax.nn import box_ops
from sambamotr_jax.training import criterion as C

D = 300  # detection queries
K = 12  # track capacity
M = 8  # object capacity
TERM_ORDER = ("label_focal_loss", "box_l1_loss", "box_giou_loss")  # per_call_raw_losses order


def _pad(x: np.ndarray, axis: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Pad `axis` to `size` with junk (positive, box-like values)."""
    shape = list(x.shape)
    shape[axis] = size
    out = (np.abs(rng.normal(size=shape)) * 0.3 + 0.1).astype(x.dtype)
    index = [slice(None)] * x.ndim
    index[axis] = slice(0, x.shape[axis])
    out[tuple(index)] = x
    return out


_criterion_frame = jax.jit(C.criterion_frame, static_argnames="config")
_select = jax.jit(C.select_active_tracks_train, static_argnames=("capacity", "update_threshold"))


def _run_clip(fixture_dir, assignment="scipy"):
    z = np.load(fixture_dir / "train_clip.npz")
    official = json.loads((fixture_dir / "train_losses.json").read_text())
    meta = json.loads((fixture_dir / "meta.json").read_text())
    config = C.CriterionConfig(
        update_threshold=meta["training"]["UPDATE_THRESH"], assignment=assignment
    )
    rng = np.random.default_rng(0)

    track_ids = np.full((K,), -1, np.int32)
    track_iou = np.zeros((K,), np.float32)
    track_valid = np.zeros((K,), bool)
    calls = iter(official["matcher_calls"])
    raw_calls = iter(official["per_call_raw_losses"])
    frame_losses, num_gts = [], []
    for t in range(meta["training"]["n_frames"]):

        def f(key, t=t):
            return z[f"f{t}/{key}"]

        n = len(f("in_ids"))
        # The track queries the official model got this frame are the ones we selected.
        np.testing.assert_array_equal(track_ids[:n], f("in_ids"))
        assert track_valid[:n].all() and not track_valid[n:].any()

        num_gt = len(f("gt_ids"))
        gt_ids = np.full((M,), 77, np.int32)
        gt_ids[:num_gt] = f("gt_ids")
        gt_labels = np.zeros((M,), np.int32)
        gt_labels[:num_gt] = f("gt_labels")
        gt_boxes = np.full((M, 4), 0.3, np.float32)
        gt_boxes[:num_gt] = f("gt_boxes_cxcywh")
        gt_valid = np.arange(M) < num_gt
        query_valid = np.arange(D + K) < D + n
        logits = _pad(f("pred_logits"), 0, D + K, rng)
        boxes = _pad(f("pred_bboxes"), 0, D + K, rng)

        out = _criterion_frame(
            pred_logits=logits,
            pred_boxes=boxes,
            aux_pred_logits=_pad(f("aux_pred_logits"), 1, D + K, rng),
            aux_pred_boxes=_pad(f("aux_pred_bboxes"), 1, D + K, rng),
            query_valid=query_valid,
            track_ids=track_ids,
            track_iou=track_iou,
            gt_ids=gt_ids,
            gt_labels=gt_labels,
            gt_boxes=gt_boxes,
            gt_valid=gt_valid,
            config=config,
        )

        # Tracked instances: matched by id, IoU recomputed where matched, kept otherwise.
        np.testing.assert_array_equal(out.track_matched_idx[:n], f("tracked_matched_idx"))
        np.testing.assert_allclose(out.track_iou[:n], f("tracked_iou"), atol=2e-6)
        np.testing.assert_array_equal(boxes[D : D + n], f("tracked_boxes"))  # track rows, in order
        # New tracks: matched detections in detection order.
        det = np.asarray(out.det_matched_idx)
        rows = np.flatnonzero(det >= 0)
        np.testing.assert_array_equal(det[rows], f("new_matched_idx"))
        np.testing.assert_array_equal(gt_ids[det[rows]], f("new_ids"))
        np.testing.assert_allclose(np.asarray(out.det_iou)[rows], f("new_iou"), atol=2e-6)
        assert D - len(rows) == f("n_unmatched_dets")

        # Every matcher call (final layer, then aux 0..4) and every raw loss of every layer.
        matches = [det] + [np.asarray(a) for a in out.aux_det_matched_idx]
        for layer, match in enumerate(matches):
            call = next(calls)
            assert call["frame"] == t
            r = np.flatnonzero(match >= 0)
            assert r.tolist() == call["pred_idx"], (t, layer)
            assert match[r].tolist() == call["gt_idx"], (t, layer)
            suffix = "" if layer == 0 else f"_aux{layer - 1}"
            for term in TERM_ORDER:
                raw = next(raw_calls)
                assert raw["frame"] == t and term.startswith(raw["kind"])
                np.testing.assert_allclose(out.losses[term + suffix], raw["value"], rtol=1e-4)
        frame_n = max(num_gt, 1)
        for term in TERM_ORDER:
            np.testing.assert_allclose(
                out.losses[term] / frame_n,
                official["log_dict_per_frame"][f"frame{t}_{term}"],
                rtol=1e-4,
            )
        frame_losses.append(out.losses)
        num_gts.append(out.num_gts)
        assert int(out.num_gts) == official["n_gts_per_frame"][t]

        # Train-mode track selection -> the track queries of frame t + 1.
        sel = _select(
            track_ids=track_ids,
            track_iou=out.track_iou,
            track_valid=track_valid,
            track_logits=logits[D:],
            det_logits=logits[:D],
            det_matched_idx=out.det_matched_idx,
            det_iou=out.det_iou,
            gt_ids=gt_ids,
            capacity=K,
            update_threshold=config.update_threshold,
        )
        kept = int(sel.num_kept)
        assert not bool(sel.overflow)
        assert np.asarray(sel.valid).tolist() == [i < kept for i in range(K)]
        if f"f{t}/next_tracks_ids" in z.files:
            np.testing.assert_array_equal(np.asarray(sel.ids)[:kept], f("next_tracks_ids"))
            next_boxes = C.take_next_tracks(sel, previous=boxes[D:], new=boxes[:D])
            np.testing.assert_array_equal(np.asarray(next_boxes)[:kept], f("next_tracks_boxes"))
            next_logits = C.take_next_tracks(sel, previous=logits[D:], new=logits[:D])
            np.testing.assert_array_equal(np.asarray(next_logits)[:kept], f("next_tracks_logits"))
            # ref_pts: previous keep theirs, new take last_ref_pts, unmatched init_ref_pts; then
            # the query updater replaces them by the box of every positive track.
            prev_ref = _pad(f("in_ref_pts"), 0, K, rng)
            ref = C.take_next_tracks(
                sel,
                previous=prev_ref,
                new=f("last_ref_pts")[:D],
                unmatched=f("init_ref_pts")[:D],
            )
            positive = jax.nn.sigmoid(next_logits).max(-1) > config.update_threshold
            ref = np.where(positive[:, None], box_ops.inverse_sigmoid(next_boxes), ref)
            np.testing.assert_allclose(ref[:kept], f("next_tracks_ref_pts"), atol=1e-5)
            if f"f{t}/next_tracks_iou" in z.files:  # MeMOTR fixture stores these too
                np.testing.assert_allclose(
                    np.asarray(sel.iou)[:kept], f("next_tracks_iou"), atol=2e-6
                )
                matched = C.take_next_tracks(
                    sel,
                    previous=np.asarray(out.track_matched_idx),
                    new=det,
                    unmatched=np.full((D,), -1, np.int32),
                )
                np.testing.assert_array_equal(
                    np.asarray(matched)[:kept], f("next_tracks_matched_idx")
                )
        track_ids = np.asarray(sel.ids)
        track_iou = np.asarray(sel.iou)
        track_valid = np.asarray(sel.valid)

    losses = C.clip_losses(frame_losses=frame_losses, num_gts=num_gts)
    return config, losses, official


@pytest.mark.parametrize(
    "which, assignment",
    [
        ("def_detr_fixture", "scipy"),
        ("memotr_dab_fixture", "scipy"),
        ("def_detr_fixture", "jax"),  # the on-device solver reproduces the official matching too
    ],
)
def test_clip_parity(which, assignment, request):
    config, losses, official = _run_clip(request.getfixturevalue(which), assignment)
    mapped = C.official_loss_dict(losses, config)
    assert set(mapped) == set(official["loss_dict_mean_by_n_gts"])
    for name, value in official["loss_dict_mean_by_n_gts"].items():
        np.testing.assert_allclose(mapped[name], value, rtol=1e-4, err_msg=name)
    assert official["loss_weights"] == {
        "box_l1_loss": config.loss_weight_l1,
        "box_giou_loss": config.loss_weight_giou,
        "label_focal_loss": config.loss_weight_focal,
    }
    np.testing.assert_allclose(C.total_loss(losses, config), official["total_loss"], rtol=1e-4)
    # Our 18 terms (3 + 3 x 5 aux layers) carry the same total as the official 6.
    assert len(losses) == 18
