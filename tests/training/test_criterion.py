"""Hand-made checks of the criterion: loss numbers, matching, padding, jit, selection, gradients."""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sambamotr_jax.training import criterion as C


def _focal(x: float, target: float, alpha=0.25, gamma=2.0) -> float:
    """Sigmoid focal loss of one logit, straight from the RetinaNet formula."""
    p = 1.0 / (1.0 + math.exp(-x))
    ce = -(target * math.log(p) + (1 - target) * math.log(1 - p))
    p_t = p if target == 1 else 1 - p
    a_t = alpha if target == 1 else 1 - alpha
    return a_t * (1 - p_t) ** gamma * ce


def test_focal_loss_hand_numbers():
    # x = 0, positive: 0.25 * 0.5^2 * log 2.
    assert _focal(0.0, 1) == pytest.approx(0.25 * 0.25 * math.log(2))
    logits = jnp.array([[0.0], [2.0], [-1.5], [3.0]])
    labels = jnp.array([0, 1, 0, 1])  # 1 = background for one class
    valid = jnp.array([True, True, True, False])
    got = C.sigmoid_focal_loss(logits=logits, labels=labels, valid=valid)
    want = _focal(0.0, 1) + _focal(2.0, 0) + _focal(-1.5, 1)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(want, 0.0433217 + 1.2375586 + 0.2843181, rtol=1e-5)


def test_focal_loss_multi_class_means_over_classes():
    logits = jnp.array([[1.0, -2.0, 0.5], [0.3, 0.2, -0.4]])
    labels = jnp.array([2, 3])  # query 0 is class 2, query 1 background (C = 3)
    got = C.sigmoid_focal_loss(logits=logits, labels=labels, valid=jnp.array([True, True]))
    want = (_focal(1.0, 0) + _focal(-2.0, 0) + _focal(0.5, 1)) / 3 + (
        _focal(0.3, 0) + _focal(0.2, 0) + _focal(-0.4, 0)
    ) / 3
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_box_losses_hand_numbers():
    pred = jnp.array([[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.2, 0.2], [0.9, 0.9, 0.1, 0.1]])
    gt = jnp.array([[0.6, 0.5, 0.2, 0.2], [0.6, 0.5, 0.2, 0.2], [0.0, 0.0, 0.0, 0.0]])
    matched = jnp.array([True, True, False])
    l1, giou = C.box_losses(pred_boxes=pred, target_boxes=gt, matched=matched)
    # Pair 0: overlap 0.02, union 0.06, hull = union -> GIoU 1/3. Pair 1: disjoint, union 0.08,
    # hull [0.1, 0.1, 0.7, 0.6] = 0.3 -> GIoU -(0.3 - 0.08) / 0.3.
    np.testing.assert_allclose(l1, 0.1 + (0.4 + 0.3), rtol=1e-6)
    np.testing.assert_allclose(giou, (1 - 1 / 3) + (1 + 0.22 / 0.3), rtol=1e-6)


def _frame_inputs(rng, *, d=6, k=3, m=4, num_classes=1, n_tracks=2, n_gt=3):
    """Random but well-formed padded inputs of one frame."""

    def boxes(*shape):
        cxcy = rng.uniform(0.2, 0.8, size=shape + (2,))
        wh = rng.uniform(0.05, 0.3, size=shape + (2,))
        return np.concatenate([cxcy, wh], -1).astype(np.float32)

    q = d + k
    gt_ids = np.array([10, 11, 12, 13][:m] + [99] * max(0, m - 4), np.int32)
    track_ids = np.array([11, -1, 12][:k] + [-1] * max(0, k - 3), np.int32)
    return dict(
        pred_logits=rng.normal(size=(q, num_classes)).astype(np.float32),
        pred_boxes=boxes(q),
        aux_pred_logits=rng.normal(size=(2, q, num_classes)).astype(np.float32),
        aux_pred_boxes=boxes(2, q),
        query_valid=np.arange(q) < d + n_tracks,
        track_ids=track_ids,
        track_iou=np.full((k,), 0.7, np.float32),
        gt_ids=gt_ids,
        gt_labels=rng.integers(0, num_classes, size=(m,)).astype(np.int32),
        gt_boxes=boxes(m),
        gt_valid=np.arange(m) < n_gt,
    )


CFG = C.CriterionConfig(num_det_queries=6, aux_loss_weights=(1.0, 0.5))
_frame = jax.jit(C.criterion_frame, static_argnames="config")
_layer = jax.jit(C.layer_losses, static_argnames="num_classes")
_select = jax.jit(C.select_active_tracks_train, static_argnames=("capacity", "update_threshold"))
_take = jax.jit(C.take_next_tracks)


def test_frame_matching_and_losses_by_hand():
    inputs = _frame_inputs(np.random.default_rng(1))
    out = _frame(**inputs, config=CFG)
    # Track slot 0 has id 11 = object 1; slot 1 has no id; slot 2 (id 12) is padding.
    assert out.track_matched_idx.tolist() == [1, -1, -1]
    # The final layer matches the 2 untracked objects (0 and 2) to 2 distinct detections.
    det = np.asarray(out.det_matched_idx)
    assert sorted(det[det >= 0].tolist()) == [0, 2]
    # Aux layer 0 (< merge_det_track_layer) is matched against all 3 objects.
    aux0 = np.asarray(out.aux_det_matched_idx[0])
    assert sorted(aux0[aux0 >= 0].tolist()) == [0, 1, 2]
    aux1 = np.asarray(out.aux_det_matched_idx[1])
    assert sorted(aux1[aux1 >= 0].tolist()) == [0, 2]
    assert int(out.num_gts) == 3
    # Final-layer losses equal the layer losses of the explicit assignment.
    query_gt = np.concatenate([det, [1, -1, -1]])
    want = _layer(
        pred_logits=inputs["pred_logits"],
        pred_boxes=inputs["pred_boxes"],
        query_valid=inputs["query_valid"],
        query_gt=query_gt,
        gt_labels=inputs["gt_labels"],
        gt_boxes=inputs["gt_boxes"],
        num_classes=1,
    )
    for k, v in want.items():
        np.testing.assert_allclose(out.losses[k], v, rtol=1e-6)
    # Aux layer 0: the track query is background, not matched to its object.
    want0 = _layer(
        pred_logits=inputs["aux_pred_logits"][0],
        pred_boxes=inputs["aux_pred_boxes"][0],
        query_valid=inputs["query_valid"],
        query_gt=np.concatenate([aux0, [-1, -1, -1]]),
        gt_labels=inputs["gt_labels"],
        gt_boxes=inputs["gt_boxes"],
        num_classes=1,
    )
    for k, v in want0.items():
        np.testing.assert_allclose(out.losses[k + "_aux0"], v, rtol=1e-6)
    assert sorted(out.losses) == sorted([t + s for t in C.TERMS for s in ("", "_aux0", "_aux1")])
    # Weights: aux layer 1 is weighted 0.5 on top of the term weight.
    w = C.loss_weights(CFG)
    assert w["box_l1_loss"] == 5.0 and w["box_l1_loss_aux1"] == 2.5
    np.testing.assert_allclose(
        C.total_loss(out.losses, CFG), sum(w[k] * v for k, v in out.losses.items()), rtol=1e-6
    )
    # IoU: the matched track recomputes it, the others keep theirs.
    assert out.track_iou[1] == pytest.approx(0.7) and out.track_iou[0] != pytest.approx(0.7)


def test_padding_invariance():
    rng = np.random.default_rng(2)
    small = _frame_inputs(rng, k=3, m=4)
    big = dict(small)
    extra_k, extra_m = 4, 5
    q_small = small["pred_logits"].shape[0]
    junk = np.random.default_rng(3)

    def pad_rows(x, axis, n):
        shape = list(x.shape)
        shape[axis] = n
        return np.concatenate([x, junk.uniform(0.1, 0.5, size=shape).astype(x.dtype)], axis)

    for name, axis in [
        ("pred_logits", 0),
        ("pred_boxes", 0),
        ("aux_pred_logits", 1),
        ("aux_pred_boxes", 1),
    ]:
        big[name] = pad_rows(small[name], axis, extra_k)
    big["query_valid"] = np.concatenate([small["query_valid"], np.ones(extra_k, bool)])
    big["query_valid"][q_small:] = False
    big["track_ids"] = np.concatenate([small["track_ids"], [10, 13, -1, 11]]).astype(np.int32)
    big["track_iou"] = pad_rows(small["track_iou"], 0, extra_k)
    big["gt_ids"] = np.concatenate([small["gt_ids"], [10, 11, 5, 6, 7]]).astype(np.int32)
    big["gt_labels"] = np.concatenate([small["gt_labels"], np.zeros(extra_m, np.int32)])
    big["gt_boxes"] = pad_rows(small["gt_boxes"], 0, extra_m)
    big["gt_valid"] = np.concatenate([small["gt_valid"], np.zeros(extra_m, bool)])

    a = _frame(**small, config=CFG)
    b = _frame(**big, config=CFG)
    for k in a.losses:
        np.testing.assert_allclose(a.losses[k], b.losses[k], rtol=1e-6, err_msg=k)
    np.testing.assert_array_equal(a.track_matched_idx, b.track_matched_idx[:3])
    np.testing.assert_array_equal(a.det_matched_idx, b.det_matched_idx)
    np.testing.assert_array_equal(a.aux_det_matched_idx, b.aux_det_matched_idx)
    np.testing.assert_allclose(a.det_iou, b.det_iou)


def test_jit_traces_once_and_batches():
    def loss_and_out(inputs):
        out = C.criterion_frame(**inputs, config=CFG)
        return C.total_loss(out.losses, CFG), out

    step = jax.jit(chex.assert_max_traces(loss_and_out, n=1))

    a = _frame_inputs(np.random.default_rng(4))
    b = _frame_inputs(np.random.default_rng(5))
    la, _ = step(a)
    lb, _ = step(b)  # same shapes: no retrace
    assert float(la) != float(lb)
    # A batch through vmap (one host call for all matchings) equals the single calls.
    batched = jax.tree.map(lambda x, y: np.stack([x, y]), a, b)
    lv, outs = jax.jit(jax.vmap(loss_and_out))(batched)
    np.testing.assert_allclose(lv, [la, lb], rtol=1e-6)
    # Clip normalization over a batch: all sums over all objects of the batch.
    (_, oa), (_, ob) = step(a), step(b)
    clip = C.clip_losses(frame_losses=[outs.losses, oa.losses], num_gts=[outs.num_gts, oa.num_gts])
    want = (2 * oa.losses["box_l1_loss"] + ob.losses["box_l1_loss"]) / (2 * oa.num_gts + ob.num_gts)
    np.testing.assert_allclose(clip["box_l1_loss"], want, rtol=1e-6)


def test_gradients_flow_to_predictions_only_where_valid():
    inputs = _frame_inputs(np.random.default_rng(6))
    invalid = ~inputs["query_valid"]
    for name in ("pred_logits", "pred_boxes", "aux_pred_logits", "aux_pred_boxes"):
        inputs[name][..., invalid, :] = np.nan  # junk in padded rows must stay out of the grads

    def f(logits, boxes, aux_logits, aux_boxes):
        out = C.criterion_frame(
            **{
                **inputs,
                "pred_logits": logits,
                "pred_boxes": boxes,
                "aux_pred_logits": aux_logits,
                "aux_pred_boxes": aux_boxes,
            },
            config=CFG,
        )
        return C.total_loss(out.losses, CFG)

    value, grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2, 3)))(
        inputs["pred_logits"],
        inputs["pred_boxes"],
        inputs["aux_pred_logits"],
        inputs["aux_pred_boxes"],
    )
    assert np.isfinite(float(value))
    for g in grads:
        assert np.isfinite(np.asarray(g)).all()
    g_logits, g_boxes = np.asarray(grads[0]), np.asarray(grads[1])
    assert (g_logits[invalid] == 0).all() and (g_boxes[invalid] == 0).all()
    assert (g_logits[~invalid] != 0).all()  # every valid query gets a focal-loss gradient
    # Box gradient only on matched queries: the 2 new detections and track slot 0.
    assert (np.abs(g_boxes).sum(-1) > 0).sum() == 3


def test_multi_class_frame():
    """Eight classes (BDD100K): matching picks the query whose score is on the object's class."""
    d, k, num_classes = 4, 1, 8
    box = [0.5, 0.5, 0.2, 0.2]
    logits = np.full((d + k, num_classes), -6.0, np.float32)
    logits[0, 3] = 4.0  # query 0 says class 3
    logits[1, 5] = 4.0  # query 1 says class 5
    logits[2, 5] = 4.0  # query 2 says class 5, but with a worse box
    boxes = np.array([box, box, [0.45, 0.5, 0.2, 0.2], box, box], np.float32)
    cfg = C.CriterionConfig(num_classes=num_classes, num_det_queries=d, aux_loss_weights=(1.0,))
    out = _frame(
        pred_logits=logits,
        pred_boxes=boxes,
        aux_pred_logits=logits[None],
        aux_pred_boxes=boxes[None],
        query_valid=np.array([True] * d + [False]),
        track_ids=np.array([-1], np.int32),
        track_iou=np.zeros((1,), np.float32),
        gt_ids=np.array([1, 2], np.int32),
        gt_labels=np.array([5, 3], np.int32),
        gt_boxes=np.array([box, box], np.float32),
        gt_valid=np.array([True, True]),
        config=cfg,
    )
    assert out.det_matched_idx.tolist() == [1, 0, -1, -1]
    # Focal loss by hand: query 0 target class 3, query 1 target class 5, the rest background.
    want = 0.0
    for q in range(d):
        target = {0: 3, 1: 5}.get(q)
        want += sum(_focal(float(logits[q, c]), int(c == target)) for c in range(8)) / 8
    np.testing.assert_allclose(out.losses["label_focal_loss"], want, rtol=1e-5)
    np.testing.assert_allclose(out.losses["box_l1_loss"], 0.0, atol=1e-7)


def test_select_active_tracks_train_order_keep_and_reset():
    # 3 track slots (slot 2 padding), 5 detections, objects with ids [7, 8, 9].
    logit = lambda s: math.log(s / (1 - s))  # noqa: E731
    sel = _select(
        track_ids=jnp.array([7, -1, 4]),
        track_iou=jnp.array([0.4, 0.9, 0.9]),
        track_valid=jnp.array([True, True, False]),
        track_logits=jnp.array([[logit(0.1)], [logit(0.8)], [logit(0.9)]]),
        det_logits=jnp.array([[logit(s)] for s in (0.9, 0.2, 0.6, 0.3, 0.55)]),
        det_matched_idx=jnp.array([-1, 2, -1, 1, -1]),
        det_iou=jnp.array([0.0, 0.8, 0.0, 0.3, 0.0]),
        gt_ids=jnp.array([7, 8, 9]),
        capacity=6,
        update_threshold=0.5,
    )
    # previous: slot 0 (id 7, kept by id, IoU 0.4 -> id -1), slot 1 (score 0.8);
    # new: det 1 (id 9, IoU 0.8), det 3 (id 8, IoU 0.3 -> -1); unmatched: det 0, det 2 (score >
    # 0.5), then det 4 (0.55) overflows the capacity 6.
    assert sel.source.tolist() == [C.PREVIOUS, C.PREVIOUS, C.NEW, C.NEW, C.UNMATCHED, C.UNMATCHED]
    assert sel.index.tolist() == [0, 1, 1, 3, 0, 2]
    assert sel.ids.tolist() == [-1, -1, 9, -1, -1, -1]
    np.testing.assert_allclose(sel.iou, [0.4, 0.9, 0.8, 0.3, 0.0, 0.0])
    assert int(sel.num_kept) == 7 and bool(sel.overflow)
    field = _take(
        sel,
        previous=jnp.array([100.0, 101.0, 102.0]),
        new=jnp.arange(5.0),
        unmatched=-jnp.arange(5.0),
    )
    assert field.tolist() == [100.0, 101.0, 1.0, 3.0, -0.0, -2.0]


def test_select_placeholder_when_nothing_is_kept():
    sel = _select(
        track_ids=jnp.array([-1, -1]),
        track_iou=jnp.zeros((2,)),
        track_valid=jnp.array([True, False]),
        track_logits=jnp.full((2, 1), -3.0),
        det_logits=jnp.full((3, 1), -3.0),
        det_matched_idx=jnp.full((3,), -1),
        det_iou=jnp.zeros((3,)),
        gt_ids=jnp.zeros((2,), jnp.int32),
        capacity=4,
        update_threshold=0.5,
    )
    assert sel.source.tolist() == [C.PLACEHOLDER, C.EMPTY, C.EMPTY, C.EMPTY]
    assert sel.ids.tolist() == [-2, -1, -1, -1]
    assert sel.valid.tolist() == [True, False, False, False]
    assert int(sel.num_kept) == 0
    got = _take(
        sel, previous=jnp.ones((2, 2)), new=jnp.ones((3, 2)), placeholder=jnp.array([5.0, 6.0])
    )
    assert got.tolist() == [[5.0, 6.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
