"""Multi-scale deformable attention: xla and pallas (interpret mode on CPU) against float64 NumPy.

The NumPy reference follows the official op: per level, bilinear sampling as
grid_sample(align_corners=False, padding_mode='zeros') (pixel = u * size - 0.5, neighbours
outside the map contribute zero), weighted by the attention weights and summed over levels and
points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels import ms_deform_attn
from kernels.ms_deform_attn import (
    BlockSizes,
    default_implementation,
    ms_deform_attn_pallas,
    ms_deform_attn_xla_autodiff,
)

IMPLEMENTATIONS = ("xla", "pallas")

# (spatial_shapes, N, Q, M, D, P): odd sizes, 1x1 levels, several batch and query sizes;
# Q = 17 is not a multiple of the kernel's query block, D = 6 is not a power of two.
CASES = (
    (((5, 7), (3, 2), (1, 1)), 2, 9, 2, 8, 3),
    (((1, 1),), 1, 1, 1, 4, 1),
    (((4, 6), (2, 3)), 3, 17, 3, 6, 2),
)


def numpy_reference(value, spatial_shapes, locations, weights):
    """Float64 official semantics. value (N,S,M,D), locations (N,Q,M,L,P,2) -> (N,Q,M*D)."""
    value = np.asarray(value, np.float64)
    locations = np.asarray(locations, np.float64)
    weights = np.asarray(weights, np.float64)
    n, _, m, d = value.shape
    q = locations.shape[1]
    out = np.zeros((n, q, m, d))
    batch = np.arange(n)[:, None, None, None]  # broadcast against (N, Q, M, P)
    head = np.arange(m)[None, None, :, None]
    start = 0
    for level, (h, w) in enumerate(spatial_shapes):
        grid = value[:, start : start + h * w].reshape(n, h, w, m, d)  # (N, H, W, M, D)
        start += h * w
        px = locations[:, :, :, level, :, 0] * w - 0.5  # (N, Q, M, P)
        py = locations[:, :, :, level, :, 1] * h - 0.5
        left, top = np.floor(px), np.floor(py)
        for cx, cy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            xi, yi = left + cx, top + cy
            bilinear = (1 - np.abs(px - xi)) * (1 - np.abs(py - yi))
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            xs = np.clip(xi, 0, w - 1).astype(int)
            ys = np.clip(yi, 0, h - 1).astype(int)
            sampled = grid[batch, ys, xs, head]  # (N, Q, M, P, D)
            coef = np.where(inside, bilinear, 0.0) * weights[:, :, :, level]  # (N, Q, M, P)
            out += np.sum(coef[..., None] * sampled, axis=3)
    return out.reshape(n, q, m * d)


def make_inputs(spatial_shapes, n, q, m, d, p, seed=0, low=-0.3, high=1.3):
    """Random float32 inputs; locations reach outside [0, 1] to exercise the zero padding."""
    rng = np.random.default_rng(seed)
    s = sum(h * w for h, w in spatial_shapes)
    nl = len(spatial_shapes)
    value = rng.normal(size=(n, s, m, d)).astype(np.float32)
    locations = rng.uniform(low, high, size=(n, q, m, nl, p, 2)).astype(np.float32)
    weights = rng.uniform(size=(n, q, m, nl, p)).astype(np.float32)
    return value, locations, weights


def _loss_fn(implementation, spatial_shapes, cotangent):
    def loss(value, locations, weights):
        out = ms_deform_attn(
            value, spatial_shapes, locations, weights, implementation=implementation
        )
        return jnp.sum(out.astype(jnp.float32) * cotangent)

    return loss


def _finite_difference(f, args, which, positions, eps=1e-6):
    """Central differences of the float64 function f at a few flat positions of args[which]."""
    grads = []
    for pos in positions:
        plus = [np.array(a, np.float64) for a in args]
        minus = [np.array(a, np.float64) for a in args]
        plus[which].reshape(-1)[pos] += eps
        minus[which].reshape(-1)[pos] -= eps
        grads.append((f(*plus) - f(*minus)) / (2 * eps))
    return np.array(grads)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES, ids=("3-levels", "1x1", "odd-sizes"))
def test_forward_matches_float64_reference(implementation, case):
    spatial_shapes, *dims = case
    value, locations, weights = make_inputs(spatial_shapes, *dims)
    out = ms_deform_attn(value, spatial_shapes, locations, weights, implementation=implementation)
    expected = numpy_reference(value, spatial_shapes, locations, weights)
    assert out.shape == expected.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)


def test_hand_made_sample():
    """One 2x3 map, one sample a quarter pixel right of the centre of pixel (0, 1)."""
    value = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)  # row-major 2x3 map
    loc = np.array([(1.75 / 3, 0.5 / 2)], np.float32).reshape(1, 1, 1, 1, 1, 2)
    weight = np.full((1, 1, 1, 1, 1), 2.0, np.float32)
    for implementation in IMPLEMENTATIONS:
        out = ms_deform_attn(value, ((2, 3),), loc, weight, implementation=implementation)
        # pixel (x, y) = (1.25, 0): 0.75 * v[0, 1] + 0.25 * v[0, 2] = 1.25, times weight 2
        np.testing.assert_allclose(np.asarray(out).ravel(), [2.5], rtol=1e-6)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_gradients_match_finite_differences(implementation):
    spatial_shapes, *dims = CASES[0]
    value, locations, weights = make_inputs(spatial_shapes, *dims, seed=1)
    cot = np.random.default_rng(2).normal(size=(dims[0], dims[1], dims[2] * dims[3]))
    grads = jax.grad(_loss_fn(implementation, spatial_shapes, cot), argnums=(0, 1, 2))(
        value, locations, weights
    )

    def f64_loss(v, x, a):
        return np.sum(numpy_reference(v, spatial_shapes, x, a) * cot)

    rng = np.random.default_rng(3)
    args = (value, locations, weights)
    for which, grad in enumerate(grads):
        assert grad.shape == args[which].shape and grad.dtype == jnp.float32
        positions = rng.choice(args[which].size, size=12, replace=False)
        expected = _finite_difference(f64_loss, args, which, positions)
        got = np.asarray(grad).reshape(-1)[positions]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("case", CASES[::2], ids=("3-levels", "odd-sizes"))
def test_gradients_agree_between_implementations(case):
    spatial_shapes, *dims = case
    value, locations, weights = make_inputs(spatial_shapes, *dims, seed=4)
    cot = np.random.default_rng(5).normal(size=(dims[0], dims[1], dims[2] * dims[3]))
    grads = {
        impl: jax.grad(_loss_fn(impl, spatial_shapes, cot), argnums=(0, 1, 2))(
            value, locations, weights
        )
        for impl in IMPLEMENTATIONS
    }

    def autodiff_loss(v, x, a):
        return jnp.sum(ms_deform_attn_xla_autodiff(v, spatial_shapes, x, a) * cot)

    grads["autodiff"] = jax.grad(autodiff_loss, argnums=(0, 1, 2))(value, locations, weights)
    for name in ("pallas", "autodiff"):
        for got, want in zip(grads[name], grads["xla"], strict=True):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4)


def test_value_gradient_with_repeated_neighbours():
    """Every sample reads the same four pixels: the value gradient must add up all of them.

    This is the case Pallas' interpret mode gets wrong for vector atomics; the default
    pallas path on CPU scatters the value gradient with XLA instead.
    """
    spatial_shapes = ((3, 3),)
    n, q, m, d, p = 1, 5, 2, 4, 3
    value = np.ones((n, 9, m, d), np.float32)
    locations = np.full((n, q, m, 1, p, 2), 0.5, np.float32)  # pixel (1, 1) exactly
    locations[..., 0] = 0.6  # pixel x = 1.3: neighbours (1, 1) 0.7 and (2, 1) 0.3
    weights = np.ones((n, q, m, 1, p), np.float32)
    cot = np.ones((n, q, m * d), np.float32)
    expected = np.zeros((n, 9, m, d), np.float32)
    expected[:, 4] = q * p * 0.7  # token of pixel (x=1, y=1) is 1 * 3 + 1
    expected[:, 5] = q * p * 0.3
    for implementation in IMPLEMENTATIONS:
        dvalue = jax.grad(_loss_fn(implementation, spatial_shapes, cot))(value, locations, weights)
        np.testing.assert_allclose(np.asarray(dvalue), expected, rtol=1e-6)


def test_atomic_value_gradient_in_interpret_mode_with_distinct_neighbours():
    """The GPU value-gradient path (atomic adds) is exact when no neighbours repeat.

    Each sample sits inside its own 2x2 block of a 16x16 map, so within one kernel program no
    two samples share a neighbour, which is what interpret mode needs to be exact.
    """
    h = w = 16
    n, q, m, d, p = 1, 8, 2, 4, 4
    rng = np.random.default_rng(6)
    blocks = rng.permutation(64)[: q * m * p].reshape(n, q, m, 1, p)  # distinct 2x2 blocks
    frac = rng.uniform(0.1, 0.9, size=(n, q, m, 1, p, 2))
    px = 2 * (blocks % 8) + frac[..., 0]  # pixel coordinates within block (bx, by)
    py = 2 * (blocks // 8) + frac[..., 1]
    locations = np.stack([(px + 0.5) / w, (py + 0.5) / h], axis=-1).astype(np.float32)
    value = rng.normal(size=(n, h * w, m, d)).astype(np.float32)
    weights = rng.uniform(size=(n, q, m, 1, p)).astype(np.float32)
    cot = rng.normal(size=(n, q, m * d)).astype(np.float32)

    def grads(value_grad):
        blocks_cfg = BlockSizes(block_q=8, value_grad=value_grad)

        def loss(v, x, a):
            out = ms_deform_attn_pallas(v, ((h, w),), x, a, blocks_cfg, True)
            return jnp.sum(out * cot)

        return jax.grad(loss, argnums=(0, 1, 2))(value, locations, weights)

    for got, want in zip(grads("atomic"), grads("scatter"), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bfloat16_inputs_accumulate_in_float32(implementation):
    spatial_shapes, *dims = CASES[0]
    value, locations, weights = (
        jnp.asarray(a, jnp.bfloat16) for a in make_inputs(spatial_shapes, *dims, seed=7)
    )
    out = ms_deform_attn(value, spatial_shapes, locations, weights, implementation=implementation)
    assert out.dtype == jnp.bfloat16
    expected = numpy_reference(
        np.asarray(value, np.float32),
        spatial_shapes,
        np.asarray(locations, np.float32),
        np.asarray(weights, np.float32),
    )
    # Only the final rounding to bfloat16 (relative 2^-9) on top of exact float32 sums.
    np.testing.assert_allclose(np.asarray(out, np.float32), expected, rtol=2**-8, atol=1e-6)

    cot = np.random.default_rng(8).normal(size=out.shape).astype(np.float32)
    grads = jax.grad(_loss_fn(implementation, spatial_shapes, cot), argnums=(0, 1, 2))(
        value, locations, weights
    )
    want = jax.grad(_loss_fn("xla", spatial_shapes, cot), argnums=(0, 1, 2))(
        *(a.astype(jnp.float32) for a in (value, locations, weights))
    )
    for got, ref in zip(grads, want, strict=True):
        assert got.dtype == jnp.bfloat16
        scale = float(jnp.max(jnp.abs(ref)))
        np.testing.assert_allclose(
            np.asarray(got, np.float32), np.asarray(ref), rtol=2**-7, atol=2**-7 * scale
        )


def test_dispatch():
    assert default_implementation() == "xla"  # the tests run on CPU
    spatial_shapes, *dims = CASES[1]
    value, locations, weights = make_inputs(spatial_shapes, *dims)
    as_lists = [list(hw) for hw in spatial_shapes]
    default = ms_deform_attn(value, as_lists, locations, weights)
    explicit = ms_deform_attn(value, spatial_shapes, locations, weights, implementation="xla")
    np.testing.assert_array_equal(np.asarray(default), np.asarray(explicit))
    with pytest.raises(ValueError, match="unknown ms_deform_attn implementation"):
        ms_deform_attn(value, spatial_shapes, locations, weights, implementation="cuda")


def test_pallas_rejects_inconsistent_shapes():
    spatial_shapes, *dims = CASES[0]
    value, locations, weights = make_inputs(spatial_shapes, *dims)
    with pytest.raises(ValueError, match="levels"):
        ms_deform_attn(value, spatial_shapes[:2], locations, weights, implementation="pallas")
    with pytest.raises(ValueError, match="tokens"):
        ms_deform_attn(value[:, 1:], spatial_shapes, locations, weights, implementation="pallas")
    with pytest.raises(ValueError, match="power of two"):
        ms_deform_attn_pallas(value, spatial_shapes, locations, weights, BlockSizes(block_q=12))
