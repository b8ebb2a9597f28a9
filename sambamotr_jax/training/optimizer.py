"""The official optimizer: AdamW parameter groups, MultiStep (or Cosine) schedule by epoch,
gradient clipping, frozen backbone parts and ONLY_TRAIN_QUERY_UPDATER_AFTER.

Official `train_engine.get_param_groups` groups parameters by substrings of their PyTorch names;
`torch_names.official_name` rebuilds that name from our parameter path (the converter's rule, the
other way), so the groups are decided by exactly the official keyword test:

* frozen: backbone parameters outside layer2/3/4 (`requires_grad=False` in the official
  `Backbone`: the stem conv and layer1; frozen-BN statistics are buffers, never parameters).
  Their gradient is zeroed before clipping and they are never updated (no weight decay either).
* `backbone`: names containing ``backbone.backbone`` -> ``optim.lr_backbone``.
* `points`: names containing ``reference_points`` or ``sampling_offsets`` -> ``optim.lr_points``.
* `query_updater`: names containing ``query_updater`` -> ``optim.lr``.
* `other`: everything else -> ``optim.lr``.

Update = AdamW (torch defaults betas (0.9, 0.999), eps 1e-8, decoupled weight decay
``optim.weight_decay`` applied as ``p -= lr * wd * p``) after clipping the global gradient norm
the way `torch.nn.utils.clip_grad_norm_` does (coefficient ``max_norm / (norm + 1e-6)`` capped at
1). The official code clips with a hard-coded 0.1 whenever CLIP_MAX_NORM > 0 (every official
config has CLIP_MAX_NORM 0.1); here ``optim.clip_max_norm`` is the norm and 0 turns clipping off.

Learning rate of a group at update `step` (counting optimizer updates, i.e. after gradient
accumulation): `epoch` = the epoch that update falls in (`epoch_of_update`; with a constant
``steps_per_epoch``, ``step // steps_per_epoch``). Epochs need not have equal lengths: the
official datasets rebuild their clip list in `set_epoch`, one clip per begin frame, so an epoch
with longer clips (a later SAMPLE_STEPS stage) has fewer clips and fewer steps; the official
scheduler still steps once per epoch. MultiStep: ``base * lr_drop_rate ** #{m in
lr_drop_milestones : m <= epoch}`` (torch MultiStepLR stepped once per epoch); Cosine: ``base *
(1 + cos(pi * epoch / train.epochs)) / 2`` (CosineAnnealingLR, T_max = EPOCHS, eta_min 0). From
epoch ``only_train_query_updater_after`` on, every group except `query_updater` has lr 0 (the
official code sets their lr to 0; their gradients still count in the clipping norm, as
officially).

Config fields read (``config.optim``; official yaml keys in brackets, defaults = official DanceTrack):
  lr 2e-4 [LR], lr_backbone 2e-5 [LR_BACKBONE], lr_points 1e-5 [LR_POINTS],
  weight_decay 5e-4 [WEIGHT_DECAY], clip_max_norm 0.1 [CLIP_MAX_NORM],
  lr_scheduler 'MultiStep' | 'Cosine' [LR_SCHEDULER], lr_drop_milestones (10,)
  [LR_DROP_MILESTONES], lr_drop_rate 0.1 [LR_DROP_RATE],
  only_train_query_updater_after 20 [ONLY_TRAIN_QUERY_UPDATER_AFTER],
  accumulation_steps 1 [ACCUMULATION_STEPS] (optax.MultiSteps: mean of k micro-batch gradients =
  the official loss / k summed over k backward passes),
  steps_per_epoch (optional): optimizer updates per epoch when no argument gives the epochs;
and ``config.train.epochs`` 20 [EPOCHS] (Cosine only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from sambamotr_jax.weights.torch_names import official_name

GROUPS = ("frozen", "backbone", "points", "query_updater", "other")
_BACKBONE_KEYWORDS = ("backbone.backbone",)
_POINTS_KEYWORDS = ("reference_points", "sampling_offsets")
_QUERY_UPDATER_KEYWORDS = ("query_updater",)
_TRAINED_BACKBONE_LAYERS = ("layer2", "layer3", "layer4")


def is_frozen(name: str) -> bool:
    """Official `Backbone`: only layer2/3/4 of the ResNet train (`name` = official name)."""
    return any(k in name for k in _BACKBONE_KEYWORDS) and not any(
        layer in name for layer in _TRAINED_BACKBONE_LAYERS
    )


def group_of(name: str) -> str:
    """The official parameter group of an official parameter name (see module docstring)."""
    if is_frozen(name):
        return "frozen"
    if any(k in name for k in _BACKBONE_KEYWORDS):
        return "backbone"
    if any(k in name for k in _POINTS_KEYWORDS):
        return "points"
    if any(k in name for k in _QUERY_UPDATER_KEYWORDS):
        return "query_updater"
    return "other"


def param_groups(params) -> Any:
    """A pytree like `params` holding each leaf's group name (for `optax.multi_transform`)."""
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict({k: group_of(official_name(k)) for k in flat})


def frozen_mask(params) -> Any:
    """A pytree of bools like `params`: True where the official code sets requires_grad=False."""
    return jax.tree.map(lambda g: g == "frozen", param_groups(params))


def _cosine_epochs(config) -> int | None:
    """T_max of the Cosine schedule: the run's epochs (config.train.epochs; optim has none)."""
    return config.train.epochs if config.optim.lr_scheduler == "Cosine" else None


def _epoch_lr(o, epochs: int | None, base: float, group: str, epoch):
    """lr of `group` in `epoch` (traced or Python int); `epochs`: `_cosine_epochs`."""
    if o.lr_scheduler == "MultiStep":
        drops = sum((epoch >= m) * 1 for m in o.lr_drop_milestones)
        lr = base * o.lr_drop_rate ** jnp.asarray(drops, jnp.float32)
    elif o.lr_scheduler == "Cosine":
        lr = base * (1.0 + jnp.cos(math.pi * jnp.asarray(epoch, jnp.float32) / epochs)) / 2.0
    else:
        raise ValueError(f"optim.lr_scheduler={o.lr_scheduler!r}: expected MultiStep or Cosine")
    if group != "query_updater":
        lr = jnp.where(epoch >= o.only_train_query_updater_after, 0.0, lr)
    return jnp.asarray(lr, jnp.float32)


def _base_lr(o, group: str) -> float:
    return {"backbone": o.lr_backbone, "points": o.lr_points}.get(group, o.lr)


def epoch_starts(epoch_steps: Sequence[int], accumulation_steps: int = 1) -> np.ndarray:
    """(E,) int: the first optimizer update of each epoch, from the batches of each epoch.

    `optax.MultiSteps` counts micro-batches across epoch ends, so update n (0-based) is applied
    at batch (n + 1) * k - 1; it belongs to the epoch holding that batch. The first update of
    epoch e, starting at batch o_e, is therefore o_e // k.
    """
    batch_starts = np.concatenate([[0], np.cumsum(epoch_steps)[:-1]]).astype(np.int64)
    return batch_starts // accumulation_steps


def epoch_of_update(step, starts: np.ndarray):
    """The epoch of optimizer update `step` (traced or int), given `epoch_starts`; updates past
    the last epoch's start stay in the last epoch."""
    return jnp.searchsorted(jnp.asarray(starts), step, side="right") - 1


def _epoch_fn(config, steps_per_epoch: int | None, epoch_steps: Sequence[int] | None):
    """update count -> epoch, from per-epoch batch counts or a constant update count."""
    if epoch_steps is not None:
        starts = epoch_starts(epoch_steps, config.optim.accumulation_steps)
        return lambda count: epoch_of_update(count, starts)
    steps_per_epoch = steps_per_epoch or config.optim.get("steps_per_epoch")
    if not steps_per_epoch or steps_per_epoch < 1:
        raise ValueError(
            "the schedule needs epoch_steps, or steps_per_epoch >= 1 (argument or "
            "optim.steps_per_epoch)"
        )
    return lambda count: count // steps_per_epoch


def learning_rate(
    config,
    step,
    steps_per_epoch: int | None = None,
    group: str = "other",
    *,
    epoch_steps: Sequence[int] | None = None,
) -> jax.Array:
    """lr of `group` ('backbone' | 'points' | 'query_updater' | 'other' = the official "lr")
    at optimizer update `step` (for logging; the optimizer uses the same function).

    The epochs come from `epoch_steps` (training batches of each epoch, e.g. the data plan's
    `steps_per_epoch`) when given, else from a constant `steps_per_epoch` updates per epoch.
    """
    o = config.optim
    epoch = _epoch_fn(config, steps_per_epoch, epoch_steps)(step)
    return _epoch_lr(o, _cosine_epochs(config), _base_lr(o, group), group, epoch)


class ScheduleState(NamedTuple):
    """State of `record_lr`: the number of updates and the main group's lr of the last one."""

    count: jax.Array
    lr: jax.Array


def record_lr(schedule) -> optax.GradientTransformation:
    """Identity on updates; keeps `schedule(count)` of the last update in its state (`lr`)."""

    def init(params):
        del params
        return ScheduleState(jnp.zeros([], jnp.int32), jnp.asarray(schedule(0), jnp.float32))

    def update(updates, state, params=None):
        del params
        return updates, ScheduleState(state.count + 1, jnp.asarray(schedule(state.count)))

    return optax.GradientTransformation(init, update)


def current_lr(opt_state) -> jax.Array:
    """The main group's lr used by the last update (0-d), read from `record_lr`'s state."""
    found = [
        s.lr
        for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, ScheduleState))
        if isinstance(s, ScheduleState)
    ]
    if len(found) != 1:
        raise ValueError(f"expected one ScheduleState in the optimizer state, found {len(found)}")
    return found[0]


def clip_by_global_norm_torch(max_norm: float) -> optax.GradientTransformation:
    """`torch.nn.utils.clip_grad_norm_`: g * min(max_norm / (||g|| + 1e-6), 1)."""

    def update(updates, state, params=None):
        del params
        norm = optax.tree.norm(updates)
        coef = jnp.minimum(max_norm / (norm + 1e-6), 1.0)
        return jax.tree.map(lambda g: (g * coef).astype(g.dtype), updates), state

    return optax.GradientTransformation(lambda _: optax.EmptyState(), update)


def make_optimizer(
    config,
    params,
    *,
    steps_per_epoch: int | None = None,
    epoch_steps: Sequence[int] | None = None,
) -> optax.GradientTransformation:
    """The official optimizer for `params` (see the module docstring for the config fields).

    Args:
      config: the experiment config (reads `config.optim`; `config.train.epochs` for Cosine).
      params: the parameter tree (or its shapes); only its structure and names are used.
      steps_per_epoch: optimizer updates per epoch when every epoch has as many (default
        `config.optim.steps_per_epoch`).
      epoch_steps: training batches (micro-batches under gradient accumulation) of each epoch,
        e.g. the data plan's `steps_per_epoch`: epochs of different lengths (the clip length
        changes at SAMPLE_STEPS). Wins over `steps_per_epoch`.
    """
    o = config.optim
    epoch_of = _epoch_fn(config, steps_per_epoch, epoch_steps)
    epochs = _cosine_epochs(config)

    def schedule(group):
        base = _base_lr(o, group)
        return lambda count: _epoch_lr(o, epochs, base, group, epoch_of(count))

    def adamw(group):
        return optax.adamw(schedule(group), b1=0.9, b2=0.999, eps=1e-8, weight_decay=o.weight_decay)

    transforms = {g: adamw(g) for g in GROUPS if g != "frozen"}
    transforms["frozen"] = optax.set_to_zero()
    chain = [optax.masked(optax.set_to_zero(), frozen_mask(params))]
    if o.clip_max_norm > 0:
        chain.append(clip_by_global_norm_torch(o.clip_max_norm))
    chain.append(optax.multi_transform(transforms, param_groups(params)))
    chain.append(record_lr(schedule("other")))
    tx = optax.chain(*chain)
    if o.accumulation_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=o.accumulation_steps).gradient_transformation()
    return tx
