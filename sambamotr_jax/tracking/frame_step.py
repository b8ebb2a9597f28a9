"""The online tracker: one jitted function per frame, exactly the official RuntimeTracker +
query updater at inference, over the fixed-capacity `TrackState`.

Per frame (all on device, shapes static):
1. the detector runs on the frame with the live track queries (padding slots masked);
2. previous tracks: the score of the track's own class < track threshold counts a miss, a track
   with `disappear_time >= miss_tolerance` is killed (and removed in the same frame);
3. detection queries with best score >= detection threshold are born, in query order, with ids
   `next_id, next_id + 1, ...`; query = the model's new-track query, reference = `last_ref_pts`;
4. survivors then newborns are compacted into the K slots (their order matters to Samba);
5. the query updater turns this frame's outputs into next frame's track queries, on the live
   slots rounded up (`track_state.on_live_prefix`), not on all K;
6. results: live tracks with best score > result threshold and original-pixel area > 100,
   boxes as x1y1x2y2 in original pixels.

Compute dtype (`config.model.dtype`): with 'bfloat16', step 1 runs in bfloat16 (the detector's
variables, the frame and the track queries cast inside the step; the weights stay float32
arguments) and its outputs are cast back to float32, so the tracker logic, the query updater,
the track state and the results are float32 as with 'float32', which casts nothing.

The host only assigns nothing: ids come from the device counter; it reads the per-slot result
arrays once per frame to write MOT lines.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from sambamotr_jax import model as model_lib
from sambamotr_jax.nn.box_ops import box_cxcywh_to_xyxy
from sambamotr_jax.tracking.track_state import (
    TrackState,
    compact_order,
    gather_rows,
    on_live_prefix,
)


@dataclasses.dataclass(frozen=True)
class TrackerParams:
    """Thresholds of the official RuntimeTracker / Submitter (static under jit)."""

    det_score_thresh: float = 0.5
    track_score_thresh: float = 0.5
    result_score_thresh: float = 0.5
    miss_tolerance: int = 45
    area_thresh: float = 100.0


def frame_step(
    model,
    params: TrackerParams,
    variables,
    state: TrackState,
    image: jax.Array,
    pad_mask: jax.Array,
    orig_hw: jax.Array,
    return_detections: bool = False,
    compute_dtype: str = "float32",
    live_prefix: bool = True,
) -> tuple[TrackState, dict]:
    """One tracking step.

    Args:
      model: the `TrackingModel` Flax module (static).
      params: tracker thresholds (static).
      variables: model variables.
      state: track state with capacity K.
      image: (1, Hp, Wp, 3) normalized, padded frame.
      pad_mask: (1, Hp, Wp) bool, True = padding.
      orig_hw: (2,) float32 original frame (height, width).
      return_detections: also return the detector outputs of the frame (static; for tests and
        debugging) as results['detections'].
      compute_dtype: 'float32' | 'bfloat16', the detector's compute dtype (static; module
        docstring).
      live_prefix: run the query updater on the live slots rounded up (static; step 5), else on
        all K slots (the same results).

    Returns:
      (next state, results) with results per slot of the *new* state: `ids` (K,), `labels` (K,),
      `scores` (K,) best class score, `boxes_xyxy` (K, 4) original pixels, `keep` (K,) bool the
      rows to write, `overflow` () tracks dropped for lack of capacity.
    """
    k = state.capacity
    dtype = jnp.dtype(compute_dtype)
    det_variables, query_embed = variables, state.query_embed
    if dtype != jnp.float32:
        det_variables = model_lib.detector_variables(variables, dtype)
        image, query_embed = image.astype(dtype), query_embed.astype(dtype)
    out = model.apply(
        det_variables,
        image,
        pad_mask,
        query_embed[None],
        state.ref_pts[None],
        state.live[None],
        method="detect",
    )
    if dtype != jnp.float32:
        out = model_lib.cast_floats(out, jnp.float32)
    out = model_lib.select_batch(out, 0)  # drop the batch axis
    n_det = out["pred_logits"].shape[0] - k
    logits = out["pred_logits"]  # (Qd + K, C)
    scores = jax.nn.sigmoid(logits)

    # Previous tracks: misses and kills (official RuntimeTracker.update).
    track_scores = scores[n_det:]  # (K, C)
    own = jnp.take_along_axis(track_scores, state.labels[:, None], axis=1)[:, 0]
    missed = own < params.track_score_thresh
    disappear = jnp.where(missed, state.disappear_time + 1, 0)
    survive = state.live & (disappear < params.miss_tolerance)

    # Newborns from detection queries.
    det_best = scores[:n_det].max(-1)  # (Qd,)
    born = det_best >= params.det_score_thresh
    new_ids = state.next_id + jnp.cumsum(born.astype(jnp.int32)) - 1
    new_query, new_ref, new_upd = model.apply(variables, out, method="new_track_queries")

    candidates = {
        "ids": jnp.concatenate([state.ids, new_ids]),
        "labels": jnp.concatenate([state.labels, scores[:n_det].argmax(-1).astype(jnp.int32)]),
        "disappear_time": jnp.concatenate([disappear, jnp.zeros((n_det,), jnp.int32)]),
        "query_embed": jnp.concatenate([state.query_embed, new_query]),
        "ref_pts": jnp.concatenate([state.ref_pts, new_ref]),
        "updater": jax.tree.map(lambda a, b: jnp.concatenate([a, b]), state.updater, new_upd),
        # This frame's outputs of each candidate (tracks' rows follow the detection rows).
        "boxes": jnp.concatenate([out["pred_boxes"][n_det:], out["pred_boxes"][:n_det]]),
        "logits": jnp.concatenate([logits[n_det:], logits[:n_det]]),
        "output_embed": jnp.concatenate([out["outputs"][n_det:], out["outputs"][:n_det]]),
    }
    keep = jnp.concatenate([survive, born])  # (K + Qd,)
    order, live, overflow = compact_order(keep, k)
    rows = gather_rows(candidates, order, live)
    ids = jnp.where(live, rows["ids"], -1)

    # The query updater runs on the live slots rounded up (`on_live_prefix`), not on all K.
    update_inputs = {
        name: rows[name] for name in ("query_embed", "ref_pts", "output_embed", "boxes", "logits")
    }
    update_inputs["updater_state"], update_inputs["live"] = rows["updater"], live

    def update(t):
        return model.apply(
            variables,
            t["query_embed"],
            t["ref_pts"],
            t["output_embed"],
            t["boxes"],
            t["logits"],
            t["updater_state"],
            t["live"],
            method="update_queries",
        )

    if live_prefix:
        query_embed, ref_pts, updater = on_live_prefix(update, update_inputs, live.sum(), k)
    else:
        query_embed, ref_pts, updater = update(update_inputs)
    next_state = TrackState(
        live=live,
        ids=ids,
        labels=rows["labels"],
        disappear_time=rows["disappear_time"],
        query_embed=query_embed,
        ref_pts=ref_pts,
        updater=updater,
        next_id=state.next_id + born.sum(dtype=jnp.int32),
    )

    # Results (official Submitter): score and area filters, boxes to original pixels.
    best = jax.nn.sigmoid(rows["logits"]).max(-1)
    h0, w0 = orig_hw[0], orig_hw[1]
    b = rows["boxes"]
    area = b[:, 2] * w0 * b[:, 3] * h0
    boxes_xyxy = box_cxcywh_to_xyxy(b) * jnp.stack([w0, h0, w0, h0])
    keep_rows = live & (best > params.result_score_thresh) & (area > params.area_thresh)
    results = {
        "ids": ids,
        "labels": rows["labels"],
        "scores": best,
        "boxes_xyxy": boxes_xyxy,
        "keep": keep_rows,
        "overflow": overflow,
    }
    if return_detections:
        results["detections"] = out
    return next_state, results


def make_frame_step(
    model,
    params: TrackerParams,
    *,
    return_detections: bool = False,
    donate: bool = True,
    compute_dtype: str = "float32",
    batched: bool = False,
):
    """`frame_step` jitted for one model, thresholds and compute dtype; compiles once per frame
    shape and track capacity. With `donate`, the step updates the track arrays in place.

    With `batched`, the step runs B independent streams at once (`jax.vmap` over a leading
    stream axis; the variables are shared): state arrays (B, K, ...) and `next_id` (B,), image
    (B, 1, Hp, Wp, 3), pad_mask (B, 1, Hp, Wp), orig_hw (B, 2); every result gains the leading
    B axis (`overflow` (B,)). It compiles once per frame shape, B and K.
    """
    step = functools.partial(
        frame_step,
        model,
        params,
        return_detections=return_detections,
        compute_dtype=compute_dtype,
        # Under vmap each stream's choice of slots would become a select over every branch, all
        # computed: a batch runs the updater on all K slots.
        live_prefix=not batched,
    )
    if batched:
        step = jax.vmap(step, in_axes=(None, 0, 0, 0, 0))
    return jax.jit(step, donate_argnums=(1,) if donate else ())
