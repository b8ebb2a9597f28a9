"""The compiled Pallas kernel on a real GPU against the xla implementation (skipped without one).

CPU CI proves the kernel's numbers in interpret mode and that it lowers for CUDA; this file runs
the compiled Triton kernel at DanceTrack encoder and decoder shapes, float32 and bfloat16, with
both value-gradient paths: the default XLA scatter-add and the kernel's atomic_add tiles (which
interpret mode cannot test). Run it on a GPU
machine: `python -m pytest tests/kernels/test_ms_deform_attn_gpu.py -q`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels import ms_deform_attn
from kernels.ms_deform_attn import BlockSizes, ms_deform_attn_pallas

pytestmark = pytest.mark.skipif(
    jax.default_backend() != "gpu", reason="needs a GPU (the compiled Triton kernel)"
)

# 800x1440 frame: levels at strides 8/16/32/64; a ~1/4-area frame keeps the test quick.
LEVELS = {
    "full": ((100, 180), (50, 90), (25, 45), (13, 23)),
    "small": ((50, 90), (25, 45), (13, 23), (7, 12)),
}


def _inputs(levels, q, n=1, m=8, d=32, p=4, seed=0):
    rng = np.random.default_rng(seed)
    s = sum(h * w for h, w in levels)
    value = rng.normal(size=(n, s, m, d)).astype(np.float32)
    # Locations slightly beyond [0, 1] so border neighbours (zero padding) are exercised.
    loc = rng.uniform(-0.05, 1.05, size=(n, q, m, len(levels), p, 2)).astype(np.float32)
    aw = rng.uniform(size=(n, q, m, len(levels) * p)).astype(np.float32)
    aw = (aw / aw.sum(-1, keepdims=True)).reshape(n, q, m, len(levels), p)
    return value, loc, aw


def _run(impl, levels, value, loc, aw, cot, dtype):
    def op(v, lo, a):
        if impl.startswith("pallas_"):  # the kernel with a chosen value-gradient path
            blocks = BlockSizes(value_grad=impl.removeprefix("pallas_"))
            return ms_deform_attn_pallas(v, levels, lo, a, blocks, False)
        return ms_deform_attn(v, levels, lo, a, implementation=impl)

    def f(v, lo, a):
        out = op(v.astype(dtype), lo, a.astype(dtype))
        return jnp.sum(out.astype(jnp.float32) * cot), out

    (_, out), grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True))(
        value, loc, aw
    )
    return [np.asarray(x, np.float32) for x in (out, *grads)]


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


@pytest.mark.parametrize("impl", ["pallas", "pallas_atomic"])
@pytest.mark.parametrize("case", ["encoder_small", "encoder_full", "decoder_full", "batch2"])
def test_compiled_kernel_matches_xla_float32(case, impl):
    kind, size = case.split("_") if "_" in case else ("decoder", "small")
    levels = LEVELS[size]
    n = 2 if case == "batch2" else 1
    q = sum(h * w for h, w in levels) if kind == "encoder" else 300 + 64
    value, loc, aw = _inputs(levels, q, n=n)
    cot = np.random.default_rng(1).normal(size=(n, q, 8 * 32)).astype(np.float32)
    ref = _run("xla", levels, value, loc, aw, cot, jnp.float32)
    got = _run(impl, levels, value, loc, aw, cot, jnp.float32)
    for name, a, b in zip(("out", "d_value", "d_loc", "d_weights"), got, ref):
        assert _rel(a, b) < 2e-5, (case, name, _rel(a, b))


def test_compiled_kernel_bfloat16_close_to_float32():
    levels = LEVELS["small"]
    q = 300 + 64
    value, loc, aw = _inputs(levels, q)
    cot = np.random.default_rng(1).normal(size=(1, q, 8 * 32)).astype(np.float32)
    ref = _run("xla", levels, value, loc, aw, cot, jnp.float32)
    got = _run("pallas", levels, value, loc, aw, cot, jnp.bfloat16)
    # bf16 inputs carry a 2^-8 relative rounding; accumulation is float32.
    for name, a, b in zip(("out", "d_value", "d_loc", "d_weights"), got, ref):
        assert _rel(a, b) < 3e-2, (name, _rel(a, b))


def test_value_gradient_atomics_with_colliding_samples():
    """Every sample of every query hits the same few pixels: the atomic adds must all land."""
    levels = ((4, 4), (2, 2))
    q, n, m, d, p = 512, 1, 8, 32, 4
    value, _, aw = _inputs(levels, q, n=n, m=m, d=d, p=p)
    loc = np.full((n, q, m, len(levels), p, 2), 0.4, np.float32)
    cot = np.ones((n, q, m * d), np.float32)
    ref = _run("xla", levels, value, loc, aw, cot, jnp.float32)
    got = _run("pallas_atomic", levels, value, loc, aw, cot, jnp.float32)
    assert _rel(got[1], ref[1]) < 1e-5
    # Against the closed form: d value = sum over queries of aw * bilinear weight.
    assert np.isclose(got[1].sum(), ref[1].sum(), rtol=1e-5)
