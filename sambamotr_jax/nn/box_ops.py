"""Box and position helpers shared by the detector, the query updaters and the tracker."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def inverse_sigmoid(x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """Official `inverse_sigmoid`: clamp to [0, 1], then log(max(x, eps) / max(1 - x, eps))."""
    x = jnp.clip(x, 0.0, 1.0)
    return jnp.log(jnp.maximum(x, eps) / jnp.maximum(1.0 - x, eps))


def pos_to_pos_embed(
    pos: jax.Array,
    num_pos_feats: int = 64,
    temperature: float = 10000.0,
    scale: float = 2 * math.pi,
) -> jax.Array:
    """Sine embedding of each coordinate, interleaved (sin, cos) as the official helper.

    Args:
      pos: (..., C) coordinates in [0, 1] (e.g. C = 4 for cxcywh).

    Returns:
      (..., C * num_pos_feats).
    """
    pos = pos * scale
    dim_i = jnp.arange(num_pos_feats, dtype=jnp.float32)
    dim_i = temperature ** (2 * (dim_i // 2) / num_pos_feats)  # (F,)
    emb = pos[..., None] / dim_i  # (..., C, F)
    emb = jnp.stack((jnp.sin(emb[..., 0::2]), jnp.cos(emb[..., 1::2])), axis=-1)  # (..., C, F/2, 2)
    return emb.reshape(*emb.shape[:-3], -1)  # (..., C * F)


def box_cxcywh_to_xyxy(b: jax.Array) -> jax.Array:
    cx, cy, w, h = jnp.moveaxis(b, -1, 0)
    return jnp.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


def box_xyxy_to_cxcywh(b: jax.Array) -> jax.Array:
    x0, y0, x1, y1 = jnp.moveaxis(b, -1, 0)
    return jnp.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)


def box_area(b_xyxy: jax.Array) -> jax.Array:
    return (b_xyxy[..., 2] - b_xyxy[..., 0]) * (b_xyxy[..., 3] - b_xyxy[..., 1])


def box_iou(a_xyxy: jax.Array, b_xyxy: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Pairwise IoU and union, (N, 4) x (M, 4) -> (N, M) each."""
    area_a = box_area(a_xyxy)
    area_b = box_area(b_xyxy)
    lt = jnp.maximum(a_xyxy[:, None, :2], b_xyxy[None, :, :2])
    rb = jnp.minimum(a_xyxy[:, None, 2:], b_xyxy[None, :, 2:])
    wh = jnp.clip(rb - lt, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / union, union


def generalized_box_iou(a_xyxy: jax.Array, b_xyxy: jax.Array) -> jax.Array:
    """Pairwise GIoU, (N, 4) x (M, 4) -> (N, M)."""
    iou, union = box_iou(a_xyxy, b_xyxy)
    lt = jnp.minimum(a_xyxy[:, None, :2], b_xyxy[None, :, :2])
    rb = jnp.maximum(a_xyxy[:, None, 2:], b_xyxy[None, :, 2:])
    wh = jnp.clip(rb - lt, 0.0)
    area = wh[..., 0] * wh[..., 1]
    return iou - (area - union) / area
