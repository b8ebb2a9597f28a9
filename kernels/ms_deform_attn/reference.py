"""Pure-JAX multi-scale deformable attention (the 'xla' implementation).

Semantics of the official `ms_deform_attn_core_pytorch` / CUDA op: bilinear sampling as
`grid_sample(align_corners=False, padding_mode='zeros')`, i.e. pixel = u * size - 0.5, and
neighbours outside the map contribute zero.

All levels and all neighbours of a block of (query, head) rows are sampled with one gather over
value viewed as rows (N*S*M, D): fewer, larger gathers are what XLA:CPU is fast at, and blocks
keep the gathered tensor cache-sized. The backward is hand-written under `jax.custom_vjp`
(`ms_deform_attn_xla_autodiff` is the same forward left to autodiff, kept for measurements).
"""

from __future__ import annotations

import functools
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


def corner_terms(
    spatial_shapes: SpatialShapes, sampling_locations: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The four bilinear neighbours of every sample, with the weights' pixel derivatives.

    Args:
      spatial_shapes: static (H, W) per level, L entries.
      sampling_locations: (..., L, P, 2) normalized (x, y).

    Returns:
      idx: (..., L, P, 4) int32 index into the flattened token axis (clipped in range).
      w: (..., L, P, 4) float32 bilinear weight, zero for neighbours outside the map.
      dw_dx, dw_dy: (..., L, P, 4) derivative of w with respect to the normalized x and y.
    """
    shapes = np.asarray(spatial_shapes, dtype=np.int64).reshape(-1, 2)
    starts = jnp.asarray(level_start_index(spatial_shapes), jnp.int32)[:, None]  # (L, 1)
    height = jnp.asarray(shapes[:, 0], jnp.float32)[:, None]  # (L, 1)
    width = jnp.asarray(shapes[:, 1], jnp.float32)[:, None]
    h_int = jnp.asarray(shapes[:, 0], jnp.int32)[:, None]
    w_int = jnp.asarray(shapes[:, 1], jnp.int32)[:, None]
    loc = sampling_locations.astype(jnp.float32)
    x = loc[..., 0] * width - 0.5  # (..., L, P) pixel coordinates
    y = loc[..., 1] * height - 0.5
    x0 = jnp.floor(x)
    y0 = jnp.floor(y)
    fx = x - x0
    fy = y - y0
    x0 = x0.astype(jnp.int32)
    y0 = y0.astype(jnp.int32)
    idxs, weights, d_x, d_y = [], [], [], []
    for dx, dy in _CORNERS:
        xi = x0 + dx
        yi = y0 + dy
        valid = ((xi >= 0) & (xi < w_int) & (yi >= 0) & (yi < h_int)).astype(jnp.float32)
        wx = fx if dx else 1.0 - fx
        wy = fy if dy else 1.0 - fy
        sx = 1.0 if dx else -1.0  # d wx / d x_pixel
        sy = 1.0 if dy else -1.0
        idxs.append(starts + jnp.clip(yi, 0, h_int - 1) * w_int + jnp.clip(xi, 0, w_int - 1))
        weights.append(valid * wx * wy)
        d_x.append(valid * sx * wy * width)  # d x_pixel / d x = W
        d_y.append(valid * wx * sy * height)
    return tuple(jnp.stack(t, axis=-1) for t in (idxs, weights, d_x, d_y))


def bilinear_corners(
    spatial_shapes: SpatialShapes, sampling_locations: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Flat value indices (..., L, P, 4) int32 and bilinear weights (..., L, P, 4) float32.

    See `corner_terms`; neighbours outside the map get weight zero and a clipped index.
    """
    idx, w, _, _ = corner_terms(spatial_shapes, sampling_locations)
    return idx, w


# Rows of (queries x heads) handled per gather: the gathered block (rows, L*P*4, D) stays around
# 256K elements (1 MiB), so it is reused from cache-sized buffers instead of materializing one
# tensor of Q*M*L*P*4*D elements (page faults and memory traffic dominate that on CPU), while
# staying large enough for XLA:CPU to split each gather over two threads. docs/kernels.md has
# the measurements.
_CHUNK_ELEMENTS = 1 << 18


def _chunk_rows(rows: int, k: int, d: int) -> int:
    return max(1, min(rows, _CHUNK_ELEMENTS // (k * d)))


def _chunked(x: jax.Array, chunk: int) -> jax.Array:
    """(R, ...) -> (R' / chunk, chunk, ...), zero-padded to a multiple of chunk."""
    pad = -x.shape[0] % chunk
    x = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1))
    return x.reshape(-1, chunk, *x.shape[1:])  # (chunks, chunk, ...)


def _flat_inputs(value, sampling_locations, attention_weights):
    """Row-major views: value rows (N*S*M, D) and per-(n, q, m) sample data.

    Returns value_rows (N*S*M, D) float32, loc (R, L, P, 2), aw (R, L, P), base (R,) int32 with
    R = N*Q*M and base the row offset n*S*M + m that a token index t maps to as base + t*M.
    """
    n, s, m, d = value.shape
    _, q, _, nl, p, _ = sampling_locations.shape
    # Gathered in float32: one cast of value is cheaper than converting every gathered row
    # (bfloat16 gathers were ~3x slower on XLA:CPU).
    value_rows = value.reshape(n * s * m, d).astype(jnp.float32)  # (N*S*M, D)
    loc = sampling_locations.reshape(n * q * m, nl, p, 2)  # (R, L, P, 2)
    aw = attention_weights.reshape(n * q * m, nl, p)  # (R, L, P)
    base = (jnp.arange(n, dtype=jnp.int32)[:, None, None] * (s * m)) + jnp.arange(
        m, dtype=jnp.int32
    )[None, None, :]  # (N, 1, M)
    base = jnp.broadcast_to(base, (n, q, m)).reshape(-1)  # (R,)
    return value_rows, loc, aw, base


def _forward(value, spatial_shapes, sampling_locations, attention_weights):
    n, s, m, d = value.shape
    _, q, _, nl, p, _ = sampling_locations.shape
    k = nl * p * 4
    value_rows, loc, aw, base = _flat_inputs(value, sampling_locations, attention_weights)
    chunk = _chunk_rows(n * q * m, k, d)

    def one_chunk(args):
        loc_c, aw_c, base_c = args  # (C, L, P, 2), (C, L, P), (C,)
        idx, w = bilinear_corners(spatial_shapes, loc_c)  # (C, L, P, 4)
        w = (w * aw_c.astype(jnp.float32)[..., None]).reshape(chunk, k)  # (C, K)
        rows = base_c[:, None] + idx.reshape(chunk, k) * m  # (C, K) rows of value_rows
        sampled = jnp.take(value_rows, rows.reshape(-1), axis=0, mode="clip")  # (C*K, D)
        sampled = sampled.reshape(chunk, k, d).astype(jnp.float32)  # (C, K, D)
        return jnp.einsum("ckd,ck->cd", sampled, w)  # (C, D)

    out = jax.lax.map(one_chunk, tuple(_chunked(a, chunk) for a in (loc, aw, base)))
    out = out.reshape(-1, d)[: n * q * m]  # (N*Q*M, D)
    return out.reshape(n, q, m * d).astype(value.dtype)  # (N, Q, M*D)


def _backward(value, spatial_shapes, sampling_locations, attention_weights, g):
    """Gradients for value, sampling_locations and attention_weights.

    The bilinear terms of every sample are computed once for all rows (large elementwise passes,
    which XLA:CPU splits over its threads); the loop over blocks of rows only gathers, takes the
    products with the output gradient and scatters the value gradient into one float32 buffer,
    in place. The location and weight gradients are reduced from those products after the loop.
    """
    n, s, m, d = value.shape
    _, q, _, nl, p, _ = sampling_locations.shape
    k = nl * p * 4
    r = n * q * m
    value_rows, loc, aw, base = _flat_inputs(value, sampling_locations, attention_weights)
    idx, w, dw_dx, dw_dy = corner_terms(spatial_shapes, loc)  # (R, L, P, 4)
    aw = aw.astype(jnp.float32)
    rows = base[:, None] + idx.reshape(r, k) * m  # (R, K) rows of value_rows
    coef = (w * aw[..., None]).reshape(r, k)  # (R, K)
    g = g.reshape(r, d).astype(jnp.float32)  # (R, D)
    chunk = _chunk_rows(r, k, d)

    def one_chunk(dv, args):
        rows_c, coef_c, g_c = args  # (C, K), (C, K), (C, D)
        rows_c = rows_c.reshape(-1)  # (C*K,)
        sampled = jnp.take(value_rows, rows_c, axis=0, mode="clip").reshape(chunk, k, d)
        gdot = jnp.einsum("ckd,cd->ck", sampled, g_c)  # (C, K)
        update = (coef_c[:, :, None] * g_c[:, None, :]).reshape(-1, d)  # (C*K, D)
        return dv.at[rows_c].add(update), gdot

    chunks = tuple(_chunked(a, chunk) for a in (rows, coef, g))
    dv0 = jnp.zeros((n * s * m, d), jnp.float32)
    dv, gdot = jax.lax.scan(one_chunk, dv0, chunks)
    gdot = gdot.reshape(-1, nl, p, 4)[:r]  # (R, L, P, 4)
    daw = jnp.sum(w * gdot, axis=-1)  # (R, L, P)
    dloc = (
        jnp.stack([jnp.sum(dw_dx * gdot, axis=-1), jnp.sum(dw_dy * gdot, axis=-1)], axis=-1)
        * aw[..., None]
    )  # (R, L, P, 2)
    return (
        dv.reshape(value.shape).astype(value.dtype),  # (N, S, M, D)
        dloc.reshape(sampling_locations.shape).astype(sampling_locations.dtype),
        daw.reshape(attention_weights.shape).astype(attention_weights.dtype),
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def ms_deform_attn_xla(
    value: jax.Array,
    spatial_shapes: SpatialShapes,
    sampling_locations: jax.Array,
    attention_weights: jax.Array,
) -> jax.Array:
    """Multi-scale deformable attention in plain JAX.

    The samples of a block of (query, head) rows are gathered with one `take` over value viewed
    as rows (N*S*M, D) (no transpose), weighted and summed in float32; blocks run in a
    `lax.map`. The backward is hand-written (`_backward`): it recomputes the gathers and
    scatters the value gradient into one float32 buffer, which is faster than autodiff
    through the map (see docs/kernels.md).

    Args:
      value: (N, S, M, D), S = sum of H * W over levels.
      spatial_shapes: static (H, W) per level.
      sampling_locations: (N, Q, M, L, P, 2) normalized (x, y).
      attention_weights: (N, Q, M, L, P).

    Returns:
      (N, Q, M * D) in value's dtype (float32 accumulation).
    """
    return _forward(value, spatial_shapes, sampling_locations, attention_weights)


def _vjp_fwd(value, spatial_shapes, sampling_locations, attention_weights):
    out = _forward(value, spatial_shapes, sampling_locations, attention_weights)
    return out, (value, sampling_locations, attention_weights)


def _vjp_bwd(spatial_shapes, residuals, g):
    value, sampling_locations, attention_weights = residuals
    return _backward(value, spatial_shapes, sampling_locations, attention_weights, g)


ms_deform_attn_xla.defvjp(_vjp_fwd, _vjp_bwd)


def ms_deform_attn_xla_autodiff(
    value: jax.Array,
    spatial_shapes: SpatialShapes,
    sampling_locations: jax.Array,
    attention_weights: jax.Array,
) -> jax.Array:
    """`ms_deform_attn_xla` with autodiff gradients (for comparison); same arguments."""
    spatial_shapes = tuple((int(h), int(w)) for h, w in spatial_shapes)
    return _forward(value, spatial_shapes, sampling_locations, attention_weights)
