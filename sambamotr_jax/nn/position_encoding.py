"""Image position embeddings and mask resizing, as the official detector computes them."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source index of every output index under PyTorch's `F.interpolate(mode='nearest')`.

    PyTorch uses ``floor(out_index * float32(in / out))`` clipped to ``in - 1`` (identity when
    the sizes match). Shapes are static, so the indices are NumPy constants.
    """
    if in_size == out_size:
        return np.arange(out_size)
    scale = np.float32(in_size) / np.float32(out_size)
    idx = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(idx, in_size - 1)


def resize_mask(mask: jax.Array, out_hw: tuple[int, int]) -> jax.Array:
    """Nearest-neighbour resize of a padding mask, (B, H, W) bool -> (B, h, w) bool."""
    rows = nearest_indices(mask.shape[1], out_hw[0])
    cols = nearest_indices(mask.shape[2], out_hw[1])
    return mask[:, rows][:, :, cols]


def sine_position_embedding(
    mask: jax.Array,
    num_pos_feats: int = 128,
    temperature: float = 20.0,
    scale: float = 2 * math.pi,
) -> jax.Array:
    """Official `PositionEmbeddingSine` (normalize=True) of a padding mask.

    Args:
      mask: (B, H, W) bool, True = padding.
      num_pos_feats: features per axis (hidden_dim / 2).
      temperature: 20 in the official detector (not DETR's 10000).

    Returns:
      (B, H, W, 2 * num_pos_feats): ``concat(pos_y, pos_x)``, each interleaved (sin, cos).
    """
    not_mask = (~mask).astype(jnp.float32)
    y = jnp.cumsum(not_mask, axis=1)  # (B, H, W)
    x = jnp.cumsum(not_mask, axis=2)
    eps = 1e-6
    y = (y - 0.5) / (y[:, -1:, :] + eps) * scale
    x = (x - 0.5) / (x[:, :, -1:] + eps) * scale
    dim_i = jnp.arange(num_pos_feats, dtype=jnp.float32)
    dim_i = jnp.float32(temperature) ** (2 * (dim_i // 2) / num_pos_feats)  # (F,)

    def embed(v: jax.Array) -> jax.Array:
        v = v[..., None] / dim_i  # (B, H, W, F)
        v = jnp.stack((jnp.sin(v[..., 0::2]), jnp.cos(v[..., 1::2])), axis=-1)  # (B, H, W, F/2, 2)
        return v.reshape(*v.shape[:3], -1)  # (B, H, W, F)

    return jnp.concatenate((embed(y), embed(x)), axis=-1)
