"""One training step on a batch of clips: the official MOTR-style clip loss, its gradient and the
optimizer update, as one pure function to jit.

Official `train_engine.train_one_epoch` per clip: for each frame, the detector runs on the frame
with the current track queries, `criterion.process_single_frame` matches and accumulates the loss
terms, and (except after the last frame) the query updater's training branch selects the next
frame's tracks (`select_active_tracks`, train) and updates their queries. The loss is the sum over
frames divided by the clip's number of ground-truth objects (over the whole batch, see
`criterion.clip_losses`); `clip_grad_norm_` and AdamW follow (optimizer.py).

Here the frames run under `jax.lax.scan` over a fixed-capacity track state (`TrainTracks`, K slots
with a mask; nothing depends on the number of live tracks):

* detection on frame t (`TrackingModel.decode`, batched over B clips) on the frame's encoded
  features (`TrackingModel.encode`, frame by frame as the official loop; with `encode_clip_at_once`,
  on all T x B frames of the segment as one batch before the scan, since the backbone and encoder
  do not read the track queries);
* per clip (vmap): `criterion.criterion_frame` (matching by id + Hungarian via the scipy host
  callback by default), `criterion.select_active_tracks_train` (previous tracks, GT-matched
  detections, unmatched detections with score > UPDATE_THRESH; ids of tracks with IoU < 0.5
  reset to -1; the official random placeholder track, id -2, when nothing is kept, its fields
  drawn from the step's rng like the official `torch.randn`), the fields of each kept track taken
  from its origin exactly as the official criterion builds them (previous: its query/reference/
  updater state and this frame's outputs; new and unmatched: `TrackingModel.new_track_queries`, with
  `init_ref_pts` for unmatched), then `TrackingModel.update_queries` in training mode;
* the last frame's update is computed and dropped (the official code skips it; nothing reads it).

NO_GRAD_FRAMES: the first `no_grad_frames` frames run in a separate scan with the parameters
behind `stop_gradient` and without observation dropout (the official `torch.no_grad` branch with
`no_augment`); their loss terms and object counts still count in the loss value (the official
criterion accumulates them), they add nothing to the gradient.

Parameters the official code freezes (`optimizer.is_frozen`: ResNet stem and layer1) are put
behind `stop_gradient`, so their gradient is exactly zero and the reported norm is the official
`clip_grad_norm_` value.

Contract with the training loop:

    cfg = clip_step_config(config, epoch=epoch)               # static, hashable
    tx = optimizer.make_optimizer(config, params, steps_per_epoch=n)
    state = TrainState.create(params, buffers, tx, rng)
    step = jax.jit(functools.partial(train_step, model, tx, cfg=cfg), donate_argnums=0)
    state, metrics = step(state, batch)

`batch` is the data pipeline's dict (data_pipeline/grain_loader.py): images (B, T, H, W, 3) float32
ImageNet-normalized (or uint8 RGB, normalized here), pad_mask (B, T, H, W) bool, boxes (B, T, M, 4)
normalized cxcywh, ids (B, T, M) int32, labels (B, T, M) int32, obj_mask (B, T, M) bool; other
keys are ignored. A single clip without the B axis is accepted too.

Config fields read by `clip_step_config` (defaults = the official DanceTrack yaml):
  config.train.track_capacity (no official counterpart; e.g. 64 for DanceTrack clips: the kept
    tracks per frame = previous tracks + detections matched to objects + unmatched detections
    scoring > UPDATE_THRESH; `metrics['track_overflow']` counts frames that hit the capacity),
  config.train.no_grad_frames (5,) [NO_GRAD_FRAMES], config.train.no_grad_steps (0,)
    [NO_GRAD_STEPS] (first i with epoch >= no_grad_steps[i] gives no_grad_frames[i]; empty
    tuples = all frames with gradient, as MeMOTR),
  config.train.remat False [USE_CHECKPOINT],
  config.train.encode_clip_at_once False (no official counterpart: see `ClipStepConfig`),
  config.model.dtype 'float32' | 'bfloat16', config.model.{num_classes, num_det_queries,
    dec_layers, update_thresh},
  config.loss.match_cost_class 2.0, match_cost_bbox 5.0, match_cost_giou 2.0 [MATCH_COST_*],
  config.loss.focal_weight 2.0, l1_weight 5.0, giou_weight 2.0 [LOSS_WEIGHT_*],
  config.loss.aux_weights (1.0,) * 5 [AUX_LOSS_WEIGHT] (one per aux layer = dec_layers - 1; a
    constant tuple of another length is repeated to that count),
  config.loss.focal_alpha 0.25, focal_gamma 2.0 (official constants),
  config.loss.assignment 'scipy' | 'jax' (optional; default 'scipy').
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import optax
from flax import traverse_util

from sambamotr_jax import model as model_lib
from sambamotr_jax.detector.deformable_transformer import EncodedFrames
from sambamotr_jax.formats.frame_images import IMAGENET_MEAN, IMAGENET_STD
from sambamotr_jax.model import LAYER_MAJOR_OUTPUTS, TrackingModel
from sambamotr_jax.training import criterion as crit
from sambamotr_jax.training import optimizer as optim_lib
from sambamotr_jax.weights.torch_names import official_name

FRAME_KEYS = ("images", "pad_mask", "boxes", "ids", "labels", "obj_mask")


@dataclasses.dataclass(frozen=True)
class ClipStepConfig:
    """Static settings of the clip loss (hashable: a static argument under jit)."""

    track_capacity: int  # K track slots carried across frames
    criterion: crit.CriterionConfig
    no_grad_frames: int = 0  # first frames of a clip without gradient (official NO_GRAD_FRAMES)
    remat: bool = False  # jax.checkpoint per frame (official --use-checkpoint)
    compute_dtype: str = "float32"  # 'bfloat16': detector compute; params/opt state/Samba state f32
    freeze_backbone_stem: bool = True  # stop_gradient on the official requires_grad=False params
    # Backbone + encoder (they do not read the track queries) of all the clip's frames as one
    # batch before the frame scan, instead of frame by frame inside it: each weight is read and
    # its gradient accumulated once per clip, not once per frame. Same values up to float
    # rounding; the backward pass then holds every frame's encoder temporaries at once (800x1440,
    # 10 frames: 45.8 instead of 20.4 GiB), so it is for small frames, and `remat` turns it off.
    encode_clip_at_once: bool = False


def _aux_weights(weights, n_aux: int) -> tuple[float, ...]:
    weights = tuple(float(w) for w in weights)
    if len(weights) == n_aux:
        return weights
    if weights and len(set(weights)) == 1:
        return (weights[0],) * n_aux
    raise ValueError(f"config.loss.aux_weights={weights} for {n_aux} auxiliary decoder layers")


def clip_step_config(config, *, epoch: int) -> ClipStepConfig:
    """`ClipStepConfig` for `epoch` from the experiment config (fields: module docstring)."""
    t, loss, m = config.train, config.loss, config.model
    no_grad = 0
    for start, frames in zip(t.no_grad_steps, t.no_grad_frames):
        if epoch >= start:  # the official loop takes the first matching entry
            no_grad = int(frames)
            break
    criterion = crit.CriterionConfig(
        num_classes=m.num_classes,
        num_det_queries=m.num_det_queries,
        match_cost_class=loss.match_cost_class,
        match_cost_bbox=loss.match_cost_bbox,
        match_cost_giou=loss.match_cost_giou,
        loss_weight_focal=loss.focal_weight,
        loss_weight_l1=loss.l1_weight,
        loss_weight_giou=loss.giou_weight,
        aux_loss_weights=_aux_weights(loss.aux_weights, m.dec_layers - 1),
        focal_alpha=loss.focal_alpha,
        focal_gamma=loss.focal_gamma,
        update_threshold=m.update_thresh,
        assignment=loss.get("assignment", "scipy"),
    )
    return ClipStepConfig(
        track_capacity=t.track_capacity,
        criterion=criterion,
        no_grad_frames=no_grad,
        remat=t.remat,
        compute_dtype=m.dtype,
        encode_clip_at_once=t.encode_clip_at_once and not t.remat,
    )


class TrainTracks(NamedTuple):
    """Track queries carried from frame to frame in training (B clips, K slots)."""

    query_embed: jax.Array  # (B, K, Dq)
    ref_pts: jax.Array  # (B, K, 4) inverse-sigmoid cxcywh
    updater: dict[str, jax.Array]  # (B, K, ...) query updater state
    ids: jax.Array  # (B, K) int32: object id, -1 none, -2 the placeholder
    iou: jax.Array  # (B, K) float32 IoU with the object (official `iou`)
    valid: jax.Array  # (B, K) bool


def empty_tracks(
    model: TrackingModel, batch_size: int, capacity: int, dtype=jnp.float32
) -> TrainTracks:
    """No track (frame 0 of every clip); `dtype` of the float fields."""
    b, k = batch_size, capacity
    return TrainTracks(
        query_embed=jnp.zeros((b, k, model.query_dim), dtype),
        ref_pts=jnp.zeros((b, k, 4), dtype),
        updater={n: jnp.zeros((b, k, *s), dtype) for n, s in model.updater_state_shapes().items()},
        ids=jnp.full((b, k), -1, jnp.int32),
        iou=jnp.zeros((b, k), jnp.float32),
        valid=jnp.zeros((b, k), bool),
    )


def _stop_frozen(params):
    """stop_gradient on the parameters the official code freezes."""
    flat = traverse_util.flatten_dict(params)
    flat = {
        k: jax.lax.stop_gradient(v) if optim_lib.is_frozen(official_name(k)) else v
        for k, v in flat.items()
    }
    return traverse_util.unflatten_dict(flat)


def _normalize_images(images: jax.Array, pad_mask: jax.Array) -> jax.Array:
    """uint8 RGB -> ImageNet-normalized float32 (zeros on padding), as the data pipeline does."""
    if images.dtype != jnp.uint8:
        return images.astype(jnp.float32)
    std = jnp.asarray(IMAGENET_STD, jnp.float32)
    scale = 1.0 / (255.0 * std)
    offset = -jnp.asarray(IMAGENET_MEAN, jnp.float32) / std
    x = images.astype(jnp.float32) * scale + offset
    return jnp.where(pad_mask[..., None], 0.0, x)


class FrameRecord(NamedTuple):
    """What one frame did, per clip (stacked over frames by `clip_forward`: (T, B, ...))."""

    losses: dict[str, jax.Array]  # (B,) raw sums per term
    num_gts: jax.Array  # (B,) int32
    num_kept: jax.Array  # (B,) int32 tracks the official code keeps for the next frame
    overflow: jax.Array  # (B,) bool
    track_ids: jax.Array  # (B, K) ids of the track queries the frame was decoded with
    track_matched_idx: jax.Array  # (B, K) object of each track query by id, -1 for none
    det_matched_idx: jax.Array  # (B, D) final layer: object matched to each detection, or -1
    aux_det_matched_idx: jax.Array  # (B, L, D) the same for each auxiliary layer


def _frame(
    model: TrackingModel,
    params,
    buffers,
    tracks: TrainTracks,
    frame: dict[str, jax.Array],
    encoded: EncodedFrames | None,
    key: jax.Array,
    cfg: ClipStepConfig,
    deterministic: bool,
) -> tuple[TrainTracks, FrameRecord]:
    """One frame of B clips: detect (or decode `encoded`), criterion, train-mode track
    selection, query update."""
    dtype = jnp.dtype(cfg.compute_dtype)
    det_variables = _detector_variables(params, buffers, dtype)
    if encoded is None:
        encoded = _encode(model, det_variables, frame["images"], frame["pad_mask"], dtype)
    out = model.apply(
        det_variables,
        encoded,
        tracks.query_embed.astype(dtype),
        tracks.ref_pts,
        tracks.valid,
        method="decode",
    )
    out = model_lib.cast_floats(out, jnp.promote_types(dtype, jnp.float32))  # bf16 -> f32
    variables = {"params": params, "buffers": buffers}
    c = cfg.criterion
    nd = c.num_det_queries
    k = cfg.track_capacity
    num_classes = out["pred_logits"].shape[-1]
    hidden = out["outputs"].shape[-1]
    is_memotr = model.is_memotr

    def per_clip(o, tr: TrainTracks, gt, clip_key):
        fc = crit.criterion_frame(
            pred_logits=o["pred_logits"],
            pred_boxes=o["pred_boxes"],
            aux_pred_logits=o["aux_pred_logits"],
            aux_pred_boxes=o["aux_pred_boxes"],
            query_valid=jnp.concatenate([jnp.ones((nd,), bool), tr.valid]),
            track_ids=tr.ids,
            track_iou=tr.iou,
            gt_ids=gt["ids"],
            gt_labels=gt["labels"],
            gt_boxes=gt["boxes"],
            gt_valid=gt["obj_mask"],
            config=c,
        )
        sel = crit.select_active_tracks_train(
            track_ids=tr.ids,
            track_iou=fc.track_iou,
            track_valid=tr.valid,
            track_logits=o["pred_logits"][nd:],
            det_logits=o["pred_logits"][:nd],
            det_matched_idx=fc.det_matched_idx,
            det_iou=fc.det_iou,
            gt_ids=gt["ids"],
            capacity=k,
            update_threshold=c.update_threshold,
            id_iou_threshold=c.id_iou_threshold,
        )
        # The placeholder track's fields are random normal (official torch.randn), its Samba
        # state zeros.
        keys = jax.random.split(clip_key, 8)
        randn = lambda i, shape: jax.random.normal(keys[i], shape, jnp.float32)
        new_query, new_ref, new_state = model.apply(variables, o, method="new_track_queries")

        def take(previous, new, unmatched=None, placeholder=None):
            return crit.take_next_tracks(
                sel, previous=previous, new=new, unmatched=unmatched, placeholder=placeholder
            )

        query = take(tr.query_embed, new_query, placeholder=randn(0, tr.query_embed.shape[1:]))
        ref = take(tr.ref_pts, new_ref, o["init_ref_pts"][:nd], placeholder=randn(1, (4,)))
        output_embed = take(o["outputs"][nd:], o["outputs"][:nd], placeholder=randn(2, (hidden,)))
        boxes = take(o["pred_boxes"][nd:], o["pred_boxes"][:nd], placeholder=randn(3, (4,)))
        logits = take(
            o["pred_logits"][nd:], o["pred_logits"][:nd], placeholder=randn(4, (num_classes,))
        )
        state = {}
        for i, (name, value) in enumerate(sorted(tr.updater.items())):
            fill = randn(5 + i, value.shape[1:]) if is_memotr else None
            state[name] = take(value, new_state[name], placeholder=fill)
        rngs = {} if deterministic else {"dropout": keys[7]}
        query, ref, state = model.apply(
            variables,
            query,
            ref,
            output_embed,
            boxes,
            logits,
            state,
            sel.valid,
            deterministic=deterministic,
            method="update_queries",
            rngs=rngs,
        )
        next_tracks = TrainTracks(query, ref, state, sel.ids, sel.iou, sel.valid)
        next_tracks = jax.tree.map(lambda new, old: new.astype(old.dtype), next_tracks, tr)
        record = FrameRecord(
            losses=fc.losses,
            num_gts=fc.num_gts,
            num_kept=sel.num_kept,
            overflow=sel.overflow,
            track_ids=jnp.where(tr.valid, tr.ids, -1),
            track_matched_idx=fc.track_matched_idx,
            det_matched_idx=fc.det_matched_idx,
            aux_det_matched_idx=fc.aux_det_matched_idx,
        )
        return next_tracks, record

    out_axes = {name: 1 if name in LAYER_MAJOR_OUTPUTS else 0 for name in out}
    gt = {name: frame[name] for name in ("ids", "labels", "boxes", "obj_mask")}
    batch_size = frame["images"].shape[0]
    return jax.vmap(per_clip, in_axes=(out_axes, 0, 0, 0))(
        out, tracks, gt, jax.random.split(key, batch_size)
    )


def _detector_variables(params, buffers, dtype) -> dict:
    """The variables with the detector's floats in the compute dtype (the updater stays f32)."""
    return model_lib.detector_variables({"params": params, "buffers": buffers}, dtype)


def _encode(model, det_variables, images, pad_mask, dtype) -> EncodedFrames:
    """`TrackingModel.encode` of N raw frames: images (N, H, W, 3), pad_mask (N, H, W)."""
    images = _normalize_images(images, pad_mask).astype(dtype)
    return model.apply(det_variables, images, pad_mask, method="encode")


def _encode_frames(model, params, buffers, frames, cfg) -> EncodedFrames:
    """`TrackingModel.encode` of all T x B `frames` as one batch -> leaves (T, B, ...)."""
    dtype = jnp.dtype(cfg.compute_dtype)
    t, b = frames["images"].shape[:2]
    merge = lambda x: x.reshape(t * b, *x.shape[2:])
    encoded = _encode(
        model,
        _detector_variables(params, buffers, dtype),
        merge(frames["images"]),
        merge(frames["pad_mask"]),
        dtype,
    )
    return jax.tree.map(lambda x: x.reshape(t, b, *x.shape[1:]), encoded)


def _run_frames(model, params, buffers, tracks, frames, keys, cfg, *, grad: bool):
    """Scan `_frame` over the leading (time) axis of `frames`; with `cfg.encode_clip_at_once`
    their backbone + encoder run first, as one batch."""
    encoded = None
    if grad:
        deterministic = model.is_memotr or model.query_updater.dropout == 0.0
    else:
        params = jax.lax.stop_gradient(params)
        deterministic = True  # official no_augment in the no-grad frames
    if cfg.encode_clip_at_once:
        encoded = _encode_frames(model, params, buffers, frames, cfg)

    def body(carry, xs):
        frame, enc, key = xs
        return _frame(model, params, buffers, carry, frame, enc, key, cfg, deterministic)

    if cfg.remat and grad:
        body = jax.checkpoint(body, prevent_cse=False)
    return jax.lax.scan(body, tracks, (frames, encoded, keys))


def clip_forward(
    model: TrackingModel, params, buffers, batch: dict, rng: jax.Array, cfg: ClipStepConfig
) -> tuple[jax.Array, dict[str, jax.Array], FrameRecord]:
    """`clip_loss` that also returns the per-frame `FrameRecord` ((T, B, ...) arrays)."""
    batch = {name: jnp.asarray(batch[name]) for name in FRAME_KEYS}
    if batch["images"].ndim == 4:  # one clip
        batch = {name: v[None] for name, v in batch.items()}
    batch_size, num_frames = batch["images"].shape[:2]
    frames = {name: jnp.swapaxes(v, 0, 1) for name, v in batch.items()}  # (T, B, ...)
    keys = jax.random.split(rng, num_frames)
    if cfg.freeze_backbone_stem:
        params = _stop_frozen(params)

    carry_dtype = jnp.promote_types(cfg.compute_dtype, jnp.float32)  # float32 unless float64
    tracks = empty_tracks(model, batch_size, cfg.track_capacity, carry_dtype)
    n = min(cfg.no_grad_frames, num_frames)
    records = []
    for start, stop, grad in ((0, n, False), (n, num_frames, True)):
        if stop > start:
            segment = jax.tree.map(lambda x: x[start:stop], frames)  # noqa: B023
            tracks, r = _run_frames(
                model, params, buffers, tracks, segment, keys[start:stop], cfg, grad=grad
            )
            records.append(r)
    record = jax.tree.map(lambda *xs: jnp.concatenate(xs), *records)  # (T, B, ...)

    losses = crit.clip_losses(frame_losses=[record.losses], num_gts=[record.num_gts])
    total = crit.total_loss(losses, cfg.criterion)
    transitions = max(num_frames - 1, 1)
    metrics = {
        **losses,
        "total_loss": total,
        "num_gts": jnp.sum(record.num_gts).astype(jnp.float32),
        "num_tracks": jnp.sum(record.num_kept[:-1]).astype(jnp.float32)
        / (transitions * batch_size),
        "track_overflow": jnp.sum(record.overflow[:-1]).astype(jnp.float32),
    }
    return total, metrics, record


def clip_loss(
    model: TrackingModel, params, buffers, batch: dict, rng: jax.Array, cfg: ClipStepConfig
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The official clip loss of a batch of clips.

    Args:
      model: `build_model(config.model)`.
      params: the 'params' collection; buffers: the 'buffers' collection (frozen BN).
      batch: see the module docstring ((B, T, ...) arrays, or (T, ...) for one clip).
      rng: key for the placeholder tracks and Samba's observation dropout.
      cfg: static settings.

    Returns:
      (total loss, metrics): metrics hold every normalized loss term (criterion names),
      'total_loss', 'num_gts' (objects in the batch), 'num_tracks' (mean tracks kept per clip
      and frame transition) and 'track_overflow' (clip-frames whose kept tracks exceeded the
      capacity; the excess was dropped).
    """
    total, metrics, _ = clip_forward(model, params, buffers, batch, rng, cfg)
    return total, metrics


@flax.struct.dataclass
class TrainState:
    """Everything a training step changes (a pytree; donate it to the jitted step)."""

    step: jax.Array  # () int32 optimizer steps done
    params: Any
    buffers: Any  # frozen-BN statistics: never trained
    opt_state: Any
    rng: jax.Array  # base key; step t uses fold_in(rng, t)

    @classmethod
    def create(cls, params, buffers, optimizer: optax.GradientTransformation, rng) -> TrainState:
        return cls(
            step=jnp.zeros([], jnp.int32),
            params=params,
            buffers=buffers,
            opt_state=optimizer.init(params),
            rng=rng,
        )


def train_step(
    model: TrackingModel,
    optimizer: optax.GradientTransformation,
    state: TrainState,
    batch: dict,
    cfg: ClipStepConfig,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """value_and_grad of `clip_loss` and one optimizer update.

    Returns:
      (next state, metrics): `clip_loss` metrics plus 'grad_norm' (global norm before clipping,
      the official `clip_grad_norm_` return value) and 'lr' (the main group's lr of this update).
    """
    rng = jax.random.fold_in(state.rng, state.step)
    grad_fn = jax.value_and_grad(clip_loss, argnums=1, has_aux=True)
    (_, metrics), grads = grad_fn(model, state.params, state.buffers, batch, rng, cfg)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        **metrics,
        "grad_norm": optax.tree.norm(grads),
        "lr": optim_lib.current_lr(opt_state),
    }
    next_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return next_state, metrics
