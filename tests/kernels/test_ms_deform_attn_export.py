"""The Pallas kernel lowers for CUDA on this CPU-only jaxlib (forward and forward+backward).

`jax.export` for platforms=['cuda'] runs the Pallas Triton lowering of the kernel bodies (the
Triton IR is serialized into the `__gpu$xla.gpu.triton` custom call), so an operation the GPU
backend cannot express fails here without a GPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax.experimental import pallas as pl
from jax.experimental.pallas import mosaic_gpu as plgpu

from kernels.ms_deform_attn import BlockSizes, ms_deform_attn_pallas, ms_deform_attn_xla

TRITON_CALL = "__gpu$xla.gpu.triton"
ALLOW_TRITON = [jax.export.DisabledSafetyCheck.custom_call(TRITON_CALL)]
# DanceTrack decoder-sized call: 4 levels of an 800x1440 frame, Q = 300 + 100 tracks.
LEVELS = ((100, 180), (50, 90), (25, 45), (13, 23))


def _specs(dtype, q=400, m=8, d=32, p=4):
    s = sum(h * w for h, w in LEVELS)
    nl = len(LEVELS)
    return (
        jax.ShapeDtypeStruct((1, s, m, d), dtype),
        jax.ShapeDtypeStruct((1, q, m, nl, p, 2), dtype),
        jax.ShapeDtypeStruct((1, q, m, nl, p), dtype),
    )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("value_grad", ["atomic", "scatter"])
def test_pallas_exports_for_cuda(dtype, value_grad):
    blocks = BlockSizes(value_grad=value_grad)

    def forward(value, locations, weights):
        return ms_deform_attn_pallas(value, LEVELS, locations, weights, blocks, False)

    def loss(value, locations, weights):
        return jnp.sum(forward(value, locations, weights).astype(jnp.float32) ** 2)

    specs = _specs(dtype)
    exported = jax.export.export(
        jax.jit(forward), platforms=["cuda"], disabled_checks=ALLOW_TRITON
    )(*specs)
    assert exported.platforms == ("cuda",)
    assert exported.mlir_module().count(TRITON_CALL) == 1
    assert exported.out_avals[0].shape == (1, 400, 256)

    grad = jax.grad(loss, argnums=(0, 1, 2))
    exported = jax.export.export(jax.jit(grad), platforms=["cuda"], disabled_checks=ALLOW_TRITON)(
        *specs
    )
    # the squared loss needs the forward output, so both kernels are in the module
    assert exported.mlir_module().count(TRITON_CALL) == 2
    assert [a.shape for a in exported.out_avals] == [s.shape for s in specs]
    assert all(a.dtype == dtype for a in exported.out_avals)


def test_without_the_triton_allowance_export_refuses():
    """The export above really contains a Triton kernel (not an XLA fallback)."""

    def forward(value, locations, weights):
        return ms_deform_attn_pallas(value, LEVELS, locations, weights, BlockSizes(), False)

    with pytest.raises(ValueError, match="no compatibility guarantees"):
        jax.export.export(jax.jit(forward), platforms=["cuda"])(*_specs(jnp.float32))


def test_xla_path_exports_for_cuda():
    def loss(value, locations, weights):
        return jnp.sum(ms_deform_attn_xla(value, LEVELS, locations, weights) ** 2)

    exported = jax.export.export(jax.jit(jax.grad(loss, argnums=(0, 1, 2))), platforms=["cuda"])(
        *_specs(jnp.float32)
    )
    assert TRITON_CALL not in exported.mlir_module()


def test_mosaic_gpu_cannot_lower_a_vector_gather():
    """Why the kernel uses the Triton lowering (docs/kernels.md): Mosaic GPU (jax 0.10.2) has no
    data-dependent row gather. If this starts to pass, revisit the choice."""

    def gather_kernel(idx_ref, value_ref, out_ref):
        out_ref[...] = value_ref[idx_ref[...], :]

    def gather(idx, value):
        return pl.pallas_call(
            gather_kernel,
            out_shape=jax.ShapeDtypeStruct((128, 32), jnp.float32),
            compiler_params=plgpu.CompilerParams(),
        )(idx, value)

    specs = (jax.ShapeDtypeStruct((128,), jnp.int32), jax.ShapeDtypeStruct((256, 32), jnp.float32))
    with pytest.raises(NotImplementedError, match="int_indexer_shape"):
        jax.export.export(jax.jit(gather), platforms=["cuda"])(*specs)
