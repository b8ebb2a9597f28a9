"""Pure-JAX multi-scale deformable attention (the 'xla' implementation).

Semantics of the official `ms_deform_attn_core_pytorch` / CUDA op: bilinear sampling as
`grid_sample(align_corners=False, padding_mode='zeros')`, i.e. pixel = u * size - 0.5, and
neighbours outside the map contribute zero.

All levels are sampled with a single gather over the flattened value (fewer, larger gathers
are what XLA:CPU is fast at); gradients come from autodiff (the gather's transpose is a
scatter-add).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

SpatialShapes = Sequence[tuple[int, int]]

# Corner offsets (dx, dy) of the four bilinear neighbours.
_CORNERS = ((0, 0), (1, 0), (0, 1), (1, 1))


def level_start_index(spatial_shapes: SpatialShapes) -> np.ndarray:
    """Static start offset of each level in the flattened token axis, shape (L,)."""
    sizes = np.array([h * w for h, w in spatial_shapes], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(sizes)[:-1]])


def bilinear_corners(
    spatial_shapes: SpatialShapes, sampling_locations: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Flat value indices and bilinear weights of the four neighbours of every sample.

    Args:
      spatial_shapes: static (H, W) per level, L entries.
      sampling_locations: (N, Q, M, L, P, 2) normalized (x, y).

    Returns:
      idx: (N, Q, M, L, P, 4) int32 index into the flattened token axis (clipped in range).
      w: (N, Q, M, L, P, 4) float32 bilinear weight, zero for neighbours outside the map.
    """
    shapes = np.asarray(spatial_shapes, dtype=np.int64).reshape(-1, 2)
    starts = jnp.asarray(level_start_index(spatial_shapes), jnp.int32)[:, None]  # (L, 1)
    height = jnp.asarray(shapes[:, 0], jnp.float32)[:, None]  # (L, 1)
    width = jnp.asarray(shapes[:, 1], jnp.float32)[:, None]
    loc = sampling_locations.astype(jnp.float32)
    x = loc[..., 0] * width - 0.5  # (N, Q, M, L, P)
    y = loc[..., 1] * height - 0.5
    x0 = jnp.floor(x)
    y0 = jnp.floor(y)
    fx = x - x0
    fy = y - y0
    w_int = jnp.asarray(shapes[:, 1], jnp.int32)[:, None]
    h_int = jnp.asarray(shapes[:, 0], jnp.int32)[:, None]
    idxs, weights = [], []
    for dx, dy in _CORNERS:
        xi = x0.astype(jnp.int32) + dx
        yi = y0.astype(jnp.int32) + dy
        wx = fx if dx else 1.0 - fx
        wy = fy if dy else 1.0 - fy
        valid = (xi >= 0) & (xi < w_int) & (yi >= 0) & (yi < h_int)
        flat = starts + jnp.clip(yi, 0, h_int - 1) * w_int + jnp.clip(xi, 0, w_int - 1)
        idxs.append(flat)
        weights.append(jnp.where(valid, wx * wy, 0.0))
    return jnp.stack(idxs, axis=-1), jnp.stack(weights, axis=-1)


def ms_deform_attn_xla(
    value: jax.Array,
    spatial_shapes: SpatialShapes,
    sampling_locations: jax.Array,
    attention_weights: jax.Array,
) -> jax.Array:
    """Multi-scale deformable attention in plain JAX.

    Args:
      value: (N, S, M, D), S = sum of H * W over levels.
      spatial_shapes: static (H, W) per level.
      sampling_locations: (N, Q, M, L, P, 2) normalized (x, y).
      attention_weights: (N, Q, M, L, P).

    Returns:
      (N, Q, M * D) in value's dtype (float32 accumulation).
    """
    n, s, m, d = value.shape
    _, q, _, nl, p, _ = sampling_locations.shape
    idx, w = bilinear_corners(spatial_shapes, sampling_locations)  # (N, Q, M, L, P, 4)
    w = w * attention_weights.astype(jnp.float32)[..., None]
    k = nl * p * 4
    idx = idx.transpose(0, 2, 1, 3, 4, 5).reshape(n, m, q * k)  # (N, M, Q*L*P*4)
    w = w.transpose(0, 2, 1, 3, 4, 5).reshape(n, m, q, k)  # (N, M, Q, L*P*4)
    value_t = value.transpose(0, 2, 1, 3)  # (N, M, S, D)
    sampled = jnp.take_along_axis(value_t, idx[..., None], axis=2, mode="clip")  # (N, M, Q*K, D)
    sampled = sampled.reshape(n, m, q, k, d).astype(jnp.float32)  # (N, M, Q, K, D)
    out = jnp.einsum("nmqkd,nmqk->nqmd", sampled, w)  # (N, Q, M, D)
    return out.reshape(n, q, m * d).astype(value.dtype)
