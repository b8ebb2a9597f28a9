"""Multi-scale deformable attention as a Pallas kernel (Triton lowering), forward and backward.

Why Triton and not Mosaic GPU: the op is a data-dependent row gather (every query reads four
neighbours per sample at positions it computes itself). Mosaic GPU in jax 0.10.2 cannot lower
one (vector-index `ref[idx, :]` raises `NotImplementedError: int_indexer_shape non-empty`;
`jnp.take` has no layout; a per-row scalar loop needs >= 128-element SMEM rows and would load one
row per warpgroup step). Pallas' Triton lowering expresses the gather directly. The evidence and
the probes are in docs/kernels.md.

Layout given to the kernel (prepared by the wrapper, all cheap compared to the value reads):
  value     (N, S, M, Dp)  the caller's layout; Dp = D padded to a power of two.
  x, y, aw  (N, Qp, M, Kp) float32; K = L * P sample columns padded to a power of two (padding
            columns carry aw = 0), Qp = Q padded to a multiple of the query block.
  per column tables (Kp,): map width, map height (float32) and level start (int32).

Grid (N, M, Qp / block_q): one program reads block_q queries of one head, computes the four
bilinear neighbours of each of its Kp samples and gathers their value rows (block_q, Kp, Dp)
straight from global memory with an integer-array index, accumulating in float32.

Backward: the same program recomputes the gathers, dots them with the output cotangent and
writes the sampling-location and attention-weight gradients. The value gradient is a scatter:
  * 'atomic': `atomic_add` of (block_q, Kp, Dp) tiles into a float32 buffer. Correct on GPU.
    Pallas' interpret mode implements a vector atomic_add as gather-add-scatter, which loses
    updates when one call holds a repeated index, so on CPU it is only exact for inputs whose
    neighbours are all distinct (the tests build such inputs).
  * 'scatter': one XLA scatter-add of the per-neighbour contributions (exact everywhere; the
    default in interpret mode).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pltriton

from kernels.ms_deform_attn.cuda_only import cuda_only
from kernels.ms_deform_attn.reference import SpatialShapes, bilinear_corners, level_start_index

ValueGrad = Literal["atomic", "scatter"]

# Corner offsets (dx, dy) of the four bilinear neighbours, same order as the reference.
_CORNERS = ((0, 0), (1, 0), (0, 1), (1, 1))


@dataclasses.dataclass(frozen=True)
class BlockSizes:
    """Tiling of the kernel.

    block_q: queries per program (power of two). A program holds (block_q, Kp, Dp) gathered
      values per neighbour: 8 x 16 x 32 floats = 32 registers per thread with 4 warps. On an
      H100 at the DanceTrack encoder shape, 8 beat 16 and 32 (forward+backward 1.93 vs 2.08 vs
      more ms; benchmarks/ms_deform_attn_blocks.py, docs/kernels.md).
    num_warps, num_stages: Triton launch parameters.
    value_grad: how the value gradient is scattered ('atomic' or 'scatter').
    """

    block_q: int = 8
    num_warps: int = 4
    num_stages: int = 1
    value_grad: ValueGrad = "atomic"


def _next_pow2(x: int) -> int:
    return 1 << max(0, int(x - 1).bit_length())


def _column_tables(spatial_shapes: SpatialShapes, points: int, kp: int) -> tuple[np.ndarray, ...]:
    """Width, height (float32) and level start (int32) of each of the Kp sample columns."""
    heights = np.array([h for h, _ in spatial_shapes], np.float32).repeat(points)
    widths = np.array([w for _, w in spatial_shapes], np.float32).repeat(points)
    starts = level_start_index(spatial_shapes).astype(np.int32).repeat(points)
    pad = kp - heights.shape[0]
    return (
        np.pad(widths, (0, pad), constant_values=1.0),
        np.pad(heights, (0, pad), constant_values=1.0),
        np.pad(starts, (0, pad)),
    )


def _corner_terms(wf, hf, start, x, y):
    """Per neighbour: flat row (clipped), bilinear weight (0 outside), d weight / d (x, y) pixel.

    wf, hf, start: (1, Kp); x, y: (Bq, Kp) normalized. Returns a list of four tuples
    (row int32, w, dw_dx, dw_dy), each (Bq, Kp).
    """
    px = x * wf - 0.5
    py = y * hf - 0.5
    x0f = jnp.floor(px)
    y0f = jnp.floor(py)
    fx = px - x0f
    fy = py - y0f
    x0 = x0f.astype(jnp.int32)
    y0 = y0f.astype(jnp.int32)
    wi = wf.astype(jnp.int32)
    hi = hf.astype(jnp.int32)
    terms = []
    for dx, dy in _CORNERS:
        xi = x0 + dx
        yi = y0 + dy
        valid = ((xi >= 0) & (xi < wi) & (yi >= 0) & (yi < hi)).astype(jnp.float32)
        wx = fx if dx else 1.0 - fx
        wy = fy if dy else 1.0 - fy
        sx = 1.0 if dx else -1.0  # d wx / d px
        sy = 1.0 if dy else -1.0
        row = start + jnp.clip(yi, 0, hi - 1) * wi + jnp.clip(xi, 0, wi - 1)
        terms.append((row, valid * wx * wy, valid * sx * wy, valid * wx * sy))
    return terms


def _fwd_kernel(wf_ref, hf_ref, start_ref, x_ref, y_ref, aw_ref, v_ref, o_ref):
    """One (n, m, query block): o (Bq, Dp) = sum over samples and neighbours of w * value row."""
    wf = wf_ref[...][None, :]  # (1, Kp)
    hf = hf_ref[...][None, :]
    start = start_ref[...][None, :]
    aw = aw_ref[...]  # (Bq, Kp)
    acc = jnp.zeros(o_ref.shape, jnp.float32)  # (Bq, Dp)
    for row, w, _, _ in _corner_terms(wf, hf, start, x_ref[...], y_ref[...]):
        rows = v_ref[row, :].astype(jnp.float32)  # (Bq, Kp, Dp) gathered value rows
        acc += jnp.sum(rows * (w * aw)[:, :, None], axis=1)
    o_ref[...] = acc.astype(o_ref.dtype)


def _bwd_kernel(wf_ref, hf_ref, start_ref, x_ref, y_ref, aw_ref, v_ref, g_ref, *refs, atomic: bool):
    """Gradients for one (n, m, query block).

    Outputs dx, dy, daw (Bq, Kp); with atomic=True also accumulates the value gradient into
    dv_ref (S, Dp) float32 (aliased to a zero buffer) with atomic adds.
    """
    if atomic:
        _, dx_ref, dy_ref, daw_ref, dv_ref = refs  # refs[0] is the aliased zero input
    else:
        dx_ref, dy_ref, daw_ref = refs
    wf = wf_ref[...][None, :]  # (1, Kp)
    hf = hf_ref[...][None, :]
    start = start_ref[...][None, :]
    aw = aw_ref[...]  # (Bq, Kp)
    g = g_ref[...].astype(jnp.float32)  # (Bq, Dp)
    daw = jnp.zeros(aw.shape, jnp.float32)
    dpx = jnp.zeros(aw.shape, jnp.float32)
    dpy = jnp.zeros(aw.shape, jnp.float32)
    for row, w, dw_dx, dw_dy in _corner_terms(wf, hf, start, x_ref[...], y_ref[...]):
        rows = v_ref[row, :].astype(jnp.float32)  # (Bq, Kp, Dp)
        gdot = jnp.sum(rows * g[:, None, :], axis=2)  # (Bq, Kp)
        daw += w * gdot
        dpx += dw_dx * gdot
        dpy += dw_dy * gdot
        if atomic:
            # Both indices as arrays (the interpret-mode rule takes no slice beside an array).
            chan = jax.lax.broadcasted_iota(jnp.int32, (1, 1, g.shape[1]), 2)  # (1, 1, Dp)
            upd = (w * aw)[:, :, None] * g[:, None, :]  # (Bq, Kp, Dp)
            pltriton.atomic_add(dv_ref, (row[:, :, None], chan), upd)
    dx_ref[...] = (dpx * aw * wf).astype(dx_ref.dtype)  # d px / d x = width
    dy_ref[...] = (dpy * aw * hf).astype(dy_ref.dtype)
    daw_ref[...] = daw.astype(daw_ref.dtype)


def _prepare(value, spatial_shapes, sampling_locations, attention_weights, block_q):
    """Kernel layouts: padded value, (x, y, aw) columns and per-column tables."""
    n, s, m, d = value.shape
    _, q, _, nl, p, _ = sampling_locations.shape
    if nl != len(spatial_shapes):
        raise ValueError(f"{nl} levels in sampling_locations, {len(spatial_shapes)} shapes")
    if s != sum(h * w for h, w in spatial_shapes):
        raise ValueError(f"value has {s} tokens, spatial_shapes sum to a different count")
    if block_q & (block_q - 1):
        raise ValueError(f"block_q must be a power of two, got {block_q}")
    k = nl * p
    kp = _next_pow2(k)
    dp = _next_pow2(d)
    qp = -(-q // block_q) * block_q
    loc = sampling_locations.astype(jnp.float32).reshape(n, q, m, k, 2)  # (N, Q, M, K, 2)
    pads = ((0, 0), (0, qp - q), (0, 0), (0, kp - k))
    x = jnp.pad(loc[..., 0], pads)  # (N, Qp, M, Kp)
    y = jnp.pad(loc[..., 1], pads)
    aw = jnp.pad(attention_weights.astype(jnp.float32).reshape(n, q, m, k), pads)  # (N, Qp, M, Kp)
    v = value if dp == d else jnp.pad(value, ((0, 0), (0, 0), (0, 0), (0, dp - d)))
    tables = tuple(jnp.asarray(t) for t in _column_tables(spatial_shapes, p, kp))
    return v, x, y, aw, tables, (n, s, m, d, q, nl, p, k, kp, dp, qp)


def _specs(s, kp, dp, block_q):
    """BlockSpecs over the grid (n, m, query block): tables, columns, value slice, output rows."""
    table = pl.BlockSpec((kp,), lambda i, j, b: (0,))
    cols = pl.BlockSpec((None, block_q, None, kp), lambda i, j, b: (i, b, j, 0))
    val = pl.BlockSpec((None, s, None, dp), lambda i, j, b: (i, 0, j, 0))
    rows = pl.BlockSpec((None, block_q, None, dp), lambda i, j, b: (i, b, j, 0))
    return table, cols, val, rows


def _call(call, interpret: bool, *args):
    """Runs a `pallas_call` (returning a list); a compiled one is lowered for CUDA alone
    (`cuda_only`: it can sit in a module exported for CPU and CUDA at once)."""
    return call(*args) if interpret else cuda_only(call, *args)


def _forward(value, spatial_shapes, sampling_locations, attention_weights, blocks, interpret):
    v, x, y, aw, tables, dims = _prepare(
        value, spatial_shapes, sampling_locations, attention_weights, blocks.block_q
    )
    n, s, m, d, q, _, _, _, kp, dp, qp = dims
    table, cols, val, rows = _specs(s, kp, dp, blocks.block_q)
    call = pl.pallas_call(
        _fwd_kernel,
        grid=(n, m, qp // blocks.block_q),
        in_specs=[table, table, table, cols, cols, cols, val],
        out_specs=rows,
        out_shape=jax.ShapeDtypeStruct((n, qp, m, dp), value.dtype),
        compiler_params=pltriton.CompilerParams(
            num_warps=blocks.num_warps, num_stages=blocks.num_stages
        ),
        interpret=interpret,
        name="ms_deform_attn_fwd",
    )
    (out,) = _call(lambda *a: [call(*a)], interpret, *tables, x, y, aw, v)  # (N, Qp, M, Dp)
    return out[:, :q, :, :d].reshape(n, q, m * d)  # (N, Q, M*D)


def _backward(value, spatial_shapes, sampling_locations, attention_weights, g, blocks, interpret):
    v, x, y, aw, tables, dims = _prepare(
        value, spatial_shapes, sampling_locations, attention_weights, blocks.block_q
    )
    n, s, m, d, q, nl, p, k, kp, dp, qp = dims
    table, cols, val, rows = _specs(s, kp, dp, blocks.block_q)
    g = g.reshape(n, q, m, d)  # (N, Q, M, D)
    g = jnp.pad(g, ((0, 0), (0, qp - q), (0, 0), (0, dp - d)))  # (N, Qp, M, Dp)
    col_shape = jax.ShapeDtypeStruct((n, qp, m, kp), jnp.float32)
    atomic = blocks.value_grad == "atomic"
    in_specs = [table, table, table, cols, cols, cols, val, rows]
    out_specs = [cols, cols, cols]
    out_shape = [col_shape, col_shape, col_shape]
    args = [*tables, x, y, aw, v, g]
    aliases = {}
    if atomic:
        in_specs.append(val)
        out_specs.append(val)
        out_shape.append(jax.ShapeDtypeStruct((n, s, m, dp), jnp.float32))
        aliases = {len(args): 3}
        args.append(jnp.zeros((n, s, m, dp), jnp.float32))
    call = pl.pallas_call(
        functools.partial(_bwd_kernel, atomic=atomic),
        grid=(n, m, qp // blocks.block_q),
        in_specs=in_specs,
        out_specs=out_specs,
        out_shape=out_shape,
        input_output_aliases=aliases,
        compiler_params=pltriton.CompilerParams(
            num_warps=blocks.num_warps, num_stages=blocks.num_stages
        ),
        interpret=interpret,
        name="ms_deform_attn_bwd",
    )
    outs = _call(call, interpret, *args)
    dx, dy, daw = (o[:, :q, :, :k] for o in outs[:3])  # (N, Q, M, K)
    dloc = jnp.stack([dx, dy], axis=-1).reshape(sampling_locations.shape)  # (N, Q, M, L, P, 2)
    daw = daw.reshape(attention_weights.shape)  # (N, Q, M, L, P)
    if atomic:
        dvalue = outs[3][..., :d]  # (N, S, M, D)
    else:
        dvalue = _value_grad_scatter(spatial_shapes, sampling_locations, attention_weights, g, s, d)
    return (
        dvalue.astype(value.dtype),
        dloc.astype(sampling_locations.dtype),
        daw.astype(attention_weights.dtype),
    )


def _value_grad_scatter(spatial_shapes, sampling_locations, attention_weights, g, s, d):
    """Value gradient as one XLA scatter-add: dvalue[n, row, m] += aw * w * g[n, q, m].

    g: (N, Qp, M, Dp) padded cotangent. Returns (N, S, M, D) float32.
    """
    n, q, m, nl, p, _ = sampling_locations.shape
    idx, w = bilinear_corners(spatial_shapes, sampling_locations)  # (N, Q, M, L, P, 4)
    w = w * attention_weights.astype(jnp.float32)[..., None]
    g = g[:, :q, :, :d]  # (N, Q, M, D)
    upd = w.reshape(n, q, m, nl * p * 4)[..., None] * g[:, :, :, None, :]  # (N, Q, M, LP4, D)
    idx = idx.reshape(n, q, m, nl * p * 4)  # (N, Q, M, LP4)
    flat = idx * m + jnp.arange(m, dtype=jnp.int32)[None, None, :, None]  # row in (S*M)
    dv = jax.vmap(lambda i, u: jnp.zeros((s * m, d), jnp.float32).at[i].add(u))(
        flat.reshape(n, -1), upd.reshape(n, -1, d)
    )  # (N, S*M, D)
    return dv.reshape(n, s, m, d)  # (N, S, M, D)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 4, 5))
def ms_deform_attn_pallas(
    value: jax.Array,
    spatial_shapes: SpatialShapes,
    sampling_locations: jax.Array,
    attention_weights: jax.Array,
    blocks: BlockSizes = BlockSizes(),
    interpret: bool = False,
) -> jax.Array:
    """Multi-scale deformable attention, Pallas kernel (see the module docstring).

    Args:
      value: (N, S, M, D) float32 or bfloat16.
      spatial_shapes: static tuple of (H, W) per level.
      sampling_locations: (N, Q, M, L, P, 2) normalized (x, y).
      attention_weights: (N, Q, M, L, P).
      blocks: tiling and value-gradient strategy.
      interpret: run the kernel in Pallas interpret mode (CPU).

    Returns:
      (N, Q, M * D) in value's dtype, float32 accumulation.
    """
    return _forward(value, spatial_shapes, sampling_locations, attention_weights, blocks, interpret)


def _vjp_fwd(value, spatial_shapes, sampling_locations, attention_weights, blocks, interpret):
    out = _forward(value, spatial_shapes, sampling_locations, attention_weights, blocks, interpret)
    return out, (value, sampling_locations, attention_weights)


def _vjp_bwd(spatial_shapes, blocks, interpret, residuals, g):
    value, sampling_locations, attention_weights = residuals
    return _backward(
        value, spatial_shapes, sampling_locations, attention_weights, g, blocks, interpret
    )


ms_deform_attn_pallas.defvjp(_vjp_fwd, _vjp_bwd)
