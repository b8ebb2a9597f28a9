"""Training criterion of SambaMOTR / MeMOTR (official `SambaClipCriterion` / `ClipCriterion`).

Everything works on padded arrays of static shape, one image (clip sample) at a time; vmap over
the batch. Per frame (official `process_single_frame`):

1. Track queries (rows `num_det_queries + k` of the predictions, slot k) are assigned to the
   ground-truth object with the same id (`matched_idx`, -1 when the id is absent this frame).
2. Detection queries are Hungarian-matched (matcher.py) to the objects no track claims.
3. Losses over all valid queries: sigmoid focal loss (mean over classes, sum over queries; the
   target is background for every query without an object), L1 and GIoU over matched pairs.
4. The same for every auxiliary decoder layer, each re-matched on its own predictions. Layers
   `i < merge_det_track_layer` (layer 0 in the official configs, where track queries bypass the
   decoder layer) are matched against *all* objects and the track queries get no object (they are
   background in the focal loss).
5. IoU of each matched query with its object: new tracks get it; previous tracks recompute it only
   when their id is present, otherwise keep their old IoU (official quirk: a track whose object
   disappeared keeps its id, see `select_active_tracks_train`).

Loss names. Per frame the criterion returns raw sums (neither weighted nor normalized):
`label_focal_loss`, `box_l1_loss`, `box_giou_loss` for the final layer and the same names with
the suffix `_aux{i}` for auxiliary layer i (aux_outputs order, i = 0 .. num_layers - 2).
Mapping to the official names (train_losses.json, `criterion.loss`): official `X` = ours `X`;
official `aux_X` = sum_i aux_loss_weights[i] * ours `X_aux{i}`; `official_loss_dict` does this.
`clip_losses` sums frames and divides by max(total number of objects in the clip, 1)
(official `get_mean_by_n_gts`, single process); the total loss is
sum_k loss_weights(config)[k] * loss[k] (official `get_sum_loss_dict`).

Track selection for the next frame in training (official `select_active_tracks`, train branch,
TP_DROP_RATE = FP_INSERT_RATE = 0): `select_active_tracks_train` returns gather indices into the
previous track slots / the detection queries of this frame, ids and IoUs, in the official order,
compacted into a fixed capacity; `take_next_tracks` gathers any per-track field with them.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from sambamotr_jax.nn import box_ops
from sambamotr_jax.training import matcher

# Where a next-frame track slot takes its fields from (TrackSelection.source).
EMPTY = 0  # padding slot
PREVIOUS = 1  # a track query of this frame (index = its slot)
NEW = 2  # a detection query matched to a ground-truth object (index = detection query)
UNMATCHED = 3  # an unmatched detection query kept by score (index = detection query)
PLACEHOLDER = 4  # the official random "fake" track when nothing is kept (id -2)


@dataclasses.dataclass(frozen=True)
class CriterionConfig:
    """Constants of the criterion (official config keys in brackets). Hashable: pass as static."""

    num_classes: int = 1  # 1 for DanceTrack/SportsMOT/MOT17, 8 for BDD100K
    num_det_queries: int = 300  # [NUM_DET_QUERIES]
    match_cost_class: float = 2.0  # [MATCH_COST_CLASS]
    match_cost_bbox: float = 5.0  # [MATCH_COST_BBOX]
    match_cost_giou: float = 2.0  # [MATCH_COST_GIOU]
    loss_weight_focal: float = 2.0  # [LOSS_WEIGHT_FOCAL]
    loss_weight_l1: float = 5.0  # [LOSS_WEIGHT_L1]
    loss_weight_giou: float = 2.0  # [LOSS_WEIGHT_GIOU]
    aux_loss_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)  # [AUX_LOSS_WEIGHT]
    merge_det_track_layer: int = 1  # [MERGE_DET_TRACK_LAYER]
    focal_alpha: float = 0.25  # hard-coded in the official code
    focal_gamma: float = 2.0  # hard-coded in the official code
    update_threshold: float = 0.5  # [UPDATE_THRESH] used by the train-mode track selection
    id_iou_threshold: float = 0.5  # hard-coded: tracks with IoU below it lose their id
    # Assignment solver: "scipy" (host callback on the valid sub-matrix, float64 as the official
    # code) or "jax" (exact on-device solver, float32); see matcher.py and benchmarks/matcher.py.
    assignment: str = "scipy"


TERMS = ("label_focal_loss", "box_l1_loss", "box_giou_loss")


def loss_weights(config: CriterionConfig) -> dict[str, float]:
    """Weight of every term of the per-frame loss dict (aux terms include the layer weight)."""
    base = {
        "label_focal_loss": config.loss_weight_focal,
        "box_l1_loss": config.loss_weight_l1,
        "box_giou_loss": config.loss_weight_giou,
    }
    weights = dict(base)
    for i, w in enumerate(config.aux_loss_weights):
        weights.update({f"{k}_aux{i}": v * w for k, v in base.items()})
    return weights


# ------------------------------------------------------------------------------------------------
# Loss terms.


def sigmoid_focal_loss(
    *,
    logits: jax.Array,
    labels: jax.Array,
    valid: jax.Array,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> jax.Array:
    """Official `sigmoid_focal_loss`: mean over classes, sum over valid queries.

    Args:
      logits: (N, C).
      labels: (N,) int class of each query's object; C (= num_classes) means background.
      valid: (N,) bool; invalid rows contribute nothing.

    Returns:
      () float.
    """
    num_classes = logits.shape[-1]
    logits = jnp.where(valid[:, None], logits, 0.0)  # junk in padded rows must not reach the grad
    targets = jax.nn.one_hot(labels, num_classes + 1, dtype=logits.dtype)[:, :num_classes]
    prob = jax.nn.sigmoid(logits)
    # binary_cross_entropy_with_logits, the numerically stable form torch uses.
    ce = jnp.maximum(logits, 0.0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits)))
    p_t = prob * targets + (1.0 - prob) * (1.0 - targets)
    loss = ce * (1.0 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1.0 - alpha) * (1.0 - targets)) * loss
    return jnp.where(valid, loss.mean(-1), 0.0).sum()


def _paired_giou(a_cxcywh: jax.Array, b_cxcywh: jax.Array) -> jax.Array:
    """GIoU of each pair (a[i], b[i]), (N, 4) x (N, 4) -> (N,)."""
    a = box_ops.box_cxcywh_to_xyxy(a_cxcywh)
    b = box_ops.box_cxcywh_to_xyxy(b_cxcywh)
    return jax.vmap(lambda x, y: box_ops.generalized_box_iou(x[None], y[None])[0, 0])(a, b)


def _paired_iou(a_cxcywh: jax.Array, b_cxcywh: jax.Array) -> jax.Array:
    """IoU of each pair (a[i], b[i]), (N, 4) x (N, 4) -> (N,)."""
    a = box_ops.box_cxcywh_to_xyxy(a_cxcywh)
    b = box_ops.box_cxcywh_to_xyxy(b_cxcywh)
    return jax.vmap(lambda x, y: box_ops.box_iou(x[None], y[None])[0][0, 0])(a, b)


_SAFE_BOX = jnp.array([0.5, 0.5, 0.5, 0.5])  # stands in for unmatched pairs: no NaN, no gradient


def box_losses(
    *, pred_boxes: jax.Array, target_boxes: jax.Array, matched: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Official `get_loss_box`: L1 and (1 - GIoU) summed over matched pairs.

    Args:
      pred_boxes: (N, 4) cxcywh.
      target_boxes: (N, 4) the object box of each query (anything where not matched).
      matched: (N,) bool.

    Returns:
      (l1, giou) scalars.
    """
    pred = jnp.where(matched[:, None], pred_boxes, _SAFE_BOX)
    tgt = jnp.where(matched[:, None], target_boxes, _SAFE_BOX)
    l1 = jnp.where(matched, jnp.abs(pred - tgt).sum(-1), 0.0).sum()
    giou = jnp.where(matched, 1.0 - _paired_giou(pred, tgt), 0.0).sum()
    return l1, giou


def layer_losses(
    *,
    pred_logits: jax.Array,
    pred_boxes: jax.Array,
    query_valid: jax.Array,
    query_gt: jax.Array,
    gt_labels: jax.Array,
    gt_boxes: jax.Array,
    num_classes: int,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> dict[str, jax.Array]:
    """The three raw loss sums of one decoder layer given the query -> object assignment.

    Args:
      pred_logits: (Q, C); pred_boxes: (Q, 4).
      query_valid: (Q,) bool.
      query_gt: (Q,) int object index of each query, -1 for none.
      gt_labels: (M,) int; gt_boxes: (M, 4).

    Returns:
      {"label_focal_loss", "box_l1_loss", "box_giou_loss"}: () each.
    """
    gt_labels = jnp.asarray(gt_labels)
    gt_boxes = jnp.asarray(gt_boxes)
    matched = (query_gt >= 0) & query_valid
    safe_gt = jnp.maximum(query_gt, 0)
    labels = jnp.where(matched, gt_labels[safe_gt], num_classes)
    focal = sigmoid_focal_loss(
        logits=pred_logits, labels=labels, valid=query_valid, alpha=alpha, gamma=gamma
    )
    l1, giou = box_losses(pred_boxes=pred_boxes, target_boxes=gt_boxes[safe_gt], matched=matched)
    return {"label_focal_loss": focal, "box_l1_loss": l1, "box_giou_loss": giou}


# ------------------------------------------------------------------------------------------------
# One frame.


class FrameCriterion(NamedTuple):
    """Result of `criterion_frame` for one frame of one clip sample.

    Shapes: K track slots, D detection queries, M ground-truth capacity, L aux layers.
    """

    losses: dict[str, jax.Array]  # raw sums, see the module docstring for the names
    num_gts: jax.Array  # () int32, valid objects this frame
    track_matched_idx: jax.Array  # (K,) object index of each track slot by id, -1 for none
    track_iou: jax.Array  # (K,) IoU carried into the selection (updated where matched)
    det_matched_idx: jax.Array  # (D,) final layer: object matched to each detection query, or -1
    det_iou: jax.Array  # (D,) IoU of each matched detection with its object (0 elsewhere)
    aux_det_matched_idx: jax.Array  # (L, D) the same matching for each auxiliary layer


def criterion_frame(
    *,
    pred_logits: jax.Array,
    pred_boxes: jax.Array,
    aux_pred_logits: jax.Array,
    aux_pred_boxes: jax.Array,
    query_valid: jax.Array,
    track_ids: jax.Array,
    track_iou: jax.Array,
    gt_ids: jax.Array,
    gt_labels: jax.Array,
    gt_boxes: jax.Array,
    gt_valid: jax.Array,
    config: CriterionConfig,
) -> FrameCriterion:
    """Official `process_single_frame` (matching, losses, IoUs) on padded arrays.

    Args:
      pred_logits: (Q, C) final-layer logits, Q = D + K: D detection queries, then K track slots.
      pred_boxes: (Q, 4) normalized cxcywh.
      aux_pred_logits: (L, Q, C) auxiliary decoder layers in aux_outputs order.
      aux_pred_boxes: (L, Q, 4).
      query_valid: (Q,) bool; detection rows are valid, track rows valid for live slots.
      track_ids: (K,) int id of each track slot (-1: a track without id, -2: the placeholder);
        the value in invalid slots is ignored.
      track_iou: (K,) IoU each track carries from earlier frames.
      gt_ids: (M,) int object ids; gt_labels: (M,) int in [0, C); gt_boxes: (M, 4) cxcywh.
      gt_valid: (M,) bool.
      config: static constants.

    Returns:
      FrameCriterion.
    """
    (pred_logits, pred_boxes, aux_pred_logits, aux_pred_boxes, query_valid, track_ids) = map(
        jnp.asarray,
        (pred_logits, pred_boxes, aux_pred_logits, aux_pred_boxes, query_valid, track_ids),
    )
    track_iou, gt_ids, gt_labels, gt_boxes, gt_valid = map(
        jnp.asarray, (track_iou, gt_ids, gt_labels, gt_boxes, gt_valid)
    )
    d = config.num_det_queries
    k = track_ids.shape[0]
    if pred_logits.shape[0] != d + k:
        raise ValueError(f"{pred_logits.shape[0]} predictions != {d} detections + {k} track slots")
    track_valid = query_valid[d:]

    # 1. Track slots -> objects by id. (If ids repeat in the ground truth, the last one wins, as
    # the official dict.)
    same = (
        (track_ids[:, None] == gt_ids[None, :])
        & track_valid[:, None]
        & (track_ids[:, None] >= 0)
        & gt_valid[None, :]
    )  # (K, M)
    m = gt_ids.shape[0]
    last = m - 1 - jnp.argmax(same[:, ::-1], axis=1)
    track_matched_idx = jnp.where(same.any(axis=1), last, -1).astype(jnp.int32)
    tracked = (
        jnp.zeros((m,), bool)
        .at[jnp.where(track_matched_idx >= 0, track_matched_idx, m)]
        .set(True, mode="drop")
    )
    untracked = gt_valid & ~tracked  # (M,)

    # 2. Hungarian matching of the detection queries, all layers in one host call.
    layers_logits = jnp.concatenate([pred_logits[None], aux_pred_logits])  # (1 + L, Q, C)
    layers_boxes = jnp.concatenate([pred_boxes[None], aux_pred_boxes])  # (1 + L, Q, 4)
    num_layers = layers_logits.shape[0]
    if len(config.aux_loss_weights) != num_layers - 1:
        raise ValueError(
            f"{num_layers - 1} aux layers but aux_loss_weights has "
            f"{len(config.aux_loss_weights)} entries"
        )
    all_gt_layer = jnp.array(
        [False] + [i < config.merge_det_track_layer for i in range(num_layers - 1)]
    )
    cost = jax.vmap(
        lambda lg, bx: matcher.match_cost(
            pred_logits=lg[:d],
            pred_boxes=bx[:d],
            gt_labels=jnp.clip(gt_labels, 0, config.num_classes - 1),
            gt_boxes=jnp.where(gt_valid[:, None], gt_boxes, _SAFE_BOX),
            cost_class=config.match_cost_class,
            cost_bbox=config.match_cost_bbox,
            cost_giou=config.match_cost_giou,
            alpha=config.focal_alpha,
            gamma=config.focal_gamma,
        )
    )(layers_logits, layers_boxes)  # (1 + L, D, M)
    col_valid = jnp.where(all_gt_layer[:, None], gt_valid[None], untracked[None])  # (1 + L, M)
    row_valid = jnp.broadcast_to(query_valid[:d], (num_layers, d))
    if config.assignment == "scipy":
        det_match = matcher.linear_sum_assignment_padded(cost, row_valid, col_valid)  # (1 + L, D)
    elif config.assignment == "jax":
        det_match = jax.vmap(matcher.linear_sum_assignment_jax)(cost, row_valid, col_valid)
    else:
        raise ValueError(f"unknown assignment solver {config.assignment!r}")

    # 3./4. Losses per layer: detection rows from the matching, track rows by id (except in the
    # layers matched against all objects, where track rows get no object).
    track_rows = jnp.where(all_gt_layer[:, None], -1, track_matched_idx[None])  # (1 + L, K)
    query_gt = jnp.concatenate([det_match, track_rows], axis=1)  # (1 + L, Q)
    per_layer = jax.vmap(
        lambda lg, bx, qg: layer_losses(
            pred_logits=lg,
            pred_boxes=bx,
            query_valid=query_valid,
            query_gt=qg,
            gt_labels=gt_labels,
            gt_boxes=gt_boxes,
            num_classes=config.num_classes,
            alpha=config.focal_alpha,
            gamma=config.focal_gamma,
        )
    )(layers_logits, layers_boxes, query_gt)
    losses = {}
    for name in TERMS:
        losses[name] = per_layer[name][0]
        for i in range(num_layers - 1):
            losses[f"{name}_aux{i}"] = per_layer[name][i + 1]

    # 5. IoUs (final layer boxes, no gradient needed but harmless).
    boxes = jax.lax.stop_gradient(pred_boxes)
    det_matched_idx = det_match[0]
    det_has = det_matched_idx >= 0
    det_iou = jnp.where(
        det_has,
        _paired_iou(
            jnp.where(det_has[:, None], boxes[:d], _SAFE_BOX),
            jnp.where(det_has[:, None], gt_boxes[jnp.maximum(det_matched_idx, 0)], _SAFE_BOX),
        ),
        0.0,
    )
    trk_has = track_matched_idx >= 0
    new_track_iou = _paired_iou(
        jnp.where(trk_has[:, None], boxes[d:], _SAFE_BOX),
        jnp.where(trk_has[:, None], gt_boxes[jnp.maximum(track_matched_idx, 0)], _SAFE_BOX),
    )
    track_iou = jnp.where(trk_has, new_track_iou, track_iou)

    return FrameCriterion(
        losses=losses,
        num_gts=gt_valid.sum().astype(jnp.int32),
        track_matched_idx=track_matched_idx,
        track_iou=track_iou,
        det_matched_idx=det_matched_idx,
        det_iou=det_iou,
        aux_det_matched_idx=det_match[1:],
    )


# ------------------------------------------------------------------------------------------------
# Clip-level reduction.


def clip_losses(
    *, frame_losses: list[dict[str, jax.Array]], num_gts: list[jax.Array] | jax.Array
) -> dict[str, jax.Array]:
    """Sum the per-frame raw losses and divide by the clip's number of objects (min 1).

    Entries may carry a batch axis (per-sample results of a vmapped `criterion_frame`): everything
    is summed, as the official criterion concatenates the batch. Over a data-parallel global batch
    this equals the official distributed normalization (per-process sums divided by the mean
    object count, then DDP's gradient mean) = global sum / global object count.

    Args:
      frame_losses: one loss dict per frame, values () or (B,).
      num_gts: per frame, () or (B,) object counts.

    Returns:
      The normalized loss dict (same keys).
    """
    total = sum(jnp.sum(jnp.asarray(n)) for n in num_gts)
    total = jnp.maximum(jnp.asarray(total, jnp.float32), 1.0)
    return {k: sum(jnp.sum(f[k]) for f in frame_losses) / total for k in frame_losses[0]}


def total_loss(losses: dict[str, jax.Array], config: CriterionConfig) -> jax.Array:
    """sum_k weight_k * loss_k over the loss dict."""
    weights = loss_weights(config)
    return sum(weights[k] * v for k, v in losses.items())


def official_loss_dict(
    losses: dict[str, jax.Array], config: CriterionConfig
) -> dict[str, jax.Array]:
    """Our term names -> the six official ones (`aux_X` = sum_i aux_weight_i * `X_aux{i}`)."""
    out = {}
    for name in TERMS:
        out[name] = losses[name]
        out[f"aux_{name}"] = sum(
            w * losses[f"{name}_aux{i}"] for i, w in enumerate(config.aux_loss_weights)
        )
    return out


# ------------------------------------------------------------------------------------------------
# Train-mode track selection.


class TrackSelection(NamedTuple):
    """The track queries of the next frame, as gather instructions (capacity K')."""

    source: jax.Array  # (K',) int32: EMPTY, PREVIOUS, NEW, UNMATCHED or PLACEHOLDER
    index: jax.Array  # (K',) int32: previous slot (PREVIOUS) or detection query (NEW/UNMATCHED)
    ids: jax.Array  # (K',) int32: -1 for none, -2 for the placeholder
    iou: jax.Array  # (K',) float32
    valid: jax.Array  # (K',) bool: source != EMPTY
    num_kept: jax.Array  # () int32: tracks the official code keeps (may exceed K')
    overflow: jax.Array  # () bool: num_kept > K' (the tail was dropped)


def select_active_tracks_train(
    *,
    track_ids: jax.Array,
    track_iou: jax.Array,
    track_valid: jax.Array,
    track_logits: jax.Array,
    det_logits: jax.Array,
    det_matched_idx: jax.Array,
    det_iou: jax.Array,
    gt_ids: jax.Array,
    capacity: int,
    update_threshold: float,
    id_iou_threshold: float = 0.5,
) -> TrackSelection:
    """Official train-mode `select_active_tracks` (TP_DROP_RATE = FP_INSERT_RATE = 0).

    Candidates in the official order: previous tracks (slot order), then the detections matched
    to an object (new tracks, by detection index), then the unmatched detections (by detection
    index). Keep `score > update_threshold or id >= 0`; then every kept track with
    IoU < id_iou_threshold gets id -1. When nothing is kept, slot 0 becomes the placeholder track.

    Args:
      track_ids: (K,) ids of the track slots this frame; track_iou: (K,) from `criterion_frame`.
      track_valid: (K,) bool.
      track_logits: (K, C) final-layer logits of the track rows this frame.
      det_logits: (D, C) final-layer logits of the detection rows.
      det_matched_idx: (D,) object matched to each detection (final layer), -1 for none.
      det_iou: (D,) IoU of each matched detection.
      gt_ids: (M,) object ids.
      capacity: K', static.

    Returns:
      TrackSelection.
    """
    track_ids, track_iou, track_valid, track_logits = map(
        jnp.asarray, (track_ids, track_iou, track_valid, track_logits)
    )
    det_logits, det_matched_idx, det_iou, gt_ids = map(
        jnp.asarray, (det_logits, det_matched_idx, det_iou, gt_ids)
    )
    k = track_ids.shape[0]
    d = det_logits.shape[0]
    track_score = jax.nn.sigmoid(track_logits).max(-1)
    det_score = jax.nn.sigmoid(det_logits).max(-1)
    is_new = det_matched_idx >= 0
    new_ids = jnp.where(is_new, gt_ids[jnp.maximum(det_matched_idx, 0)], -1)

    # Candidates: (K + 2D,) = previous | detections as new | detections as unmatched.
    source = jnp.concatenate(
        [jnp.full((k,), PREVIOUS), jnp.full((d,), NEW), jnp.full((d,), UNMATCHED)]
    ).astype(jnp.int32)
    index = jnp.concatenate([jnp.arange(k), jnp.arange(d), jnp.arange(d)]).astype(jnp.int32)
    ids = jnp.concatenate([track_ids, new_ids, jnp.full((d,), -1)]).astype(jnp.int32)
    iou = jnp.concatenate([track_iou, det_iou, jnp.zeros((d,))]).astype(jnp.float32)
    score = jnp.concatenate([track_score, det_score, det_score])
    present = jnp.concatenate([track_valid, is_new, ~is_new])
    keep = present & ((score > update_threshold) | (ids >= 0))
    ids = jnp.where(iou < id_iou_threshold, -1, ids)

    # Stable compaction into the capacity.
    slot = jnp.where(keep, jnp.cumsum(keep) - 1, capacity)  # out of range -> dropped
    num_kept = keep.sum().astype(jnp.int32)

    def scatter(values, fill):
        return jnp.full((capacity,), fill, values.dtype).at[slot].set(values, mode="drop")

    out_source = scatter(source, EMPTY)
    out_index = scatter(index, 0)
    out_ids = scatter(ids, -1)
    out_iou = scatter(iou, 0.0)

    none_kept = num_kept == 0
    out_source = out_source.at[0].set(jnp.where(none_kept, PLACEHOLDER, out_source[0]))
    out_ids = out_ids.at[0].set(jnp.where(none_kept, -2, out_ids[0]))
    return TrackSelection(
        source=out_source,
        index=out_index,
        ids=out_ids,
        iou=out_iou,
        valid=out_source != EMPTY,
        num_kept=num_kept,
        overflow=num_kept > capacity,
    )


def take_next_tracks(
    selection: TrackSelection,
    *,
    previous: jax.Array,
    new: jax.Array,
    unmatched: jax.Array | None = None,
    placeholder: jax.Array | None = None,
) -> jax.Array:
    """Gather one per-track field of the next frame's tracks.

    The official code fills each field differently per origin, e.g. `ref_pts`: previous tracks keep
    theirs, new tracks take `last_ref_pts`, unmatched detections `init_ref_pts`; `boxes`/`logits`/
    `output_embed`: this frame's final outputs for all (pass the track rows as `previous` and the
    detection rows as `new`); Samba `hidden_state`: previous keep theirs, new start at zero.

    Args:
      selection: from `select_active_tracks_train`.
      previous: (K, ...) the field for each previous track slot.
      new: (D, ...) the field for detections that become new tracks.
      unmatched: (D, ...) the field for unmatched detections (default: `new`).
      placeholder: (...) the field of the placeholder track (default: zeros; the official one is
        `torch.randn`, draw it from a key if it matters).

    Returns:
      (K', ...); zeros in empty slots.
    """
    previous, new = jnp.asarray(previous), jnp.asarray(new)
    unmatched = new if unmatched is None else jnp.asarray(unmatched)
    placeholder = (
        jnp.zeros(previous.shape[1:], previous.dtype) if placeholder is None else placeholder
    )
    src = selection.source.reshape((-1,) + (1,) * (previous.ndim - 1))  # (K', 1, ...)
    i = selection.index
    out = jnp.zeros((i.shape[0],) + previous.shape[1:], previous.dtype)
    if previous.shape[0]:
        out = jnp.where(src == PREVIOUS, previous[jnp.clip(i, 0, previous.shape[0] - 1)], out)
    out = jnp.where(src == NEW, new[i], out)
    out = jnp.where(src == UNMATCHED, unmatched[i], out)
    out = jnp.where(src == PLACEHOLDER, placeholder, out)
    return out.astype(previous.dtype)
