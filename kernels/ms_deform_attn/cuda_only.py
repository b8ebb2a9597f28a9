"""A computation lowered for CUDA alone, so that a module lowered for several platforms at once
(`jax.export(..., platforms=['cpu', 'cuda'])`) can hold a compiled Pallas kernel.

`jax.lax.platform_dependent` (the dispatch) picks the CUDA branch only on CUDA, but jax 0.10
lowers every branch of its conditional for every platform of the module, and a compiled
(non-interpret) `pallas_call` has no CPU lowering: it raises "Only interpret mode is supported on
CPU backend". `cuda_only(fn, *args)` stages `fn` as one primitive whose CUDA lowering is `fn`'s,
lowered for CUDA alone (`mlir.lower_fun` restricts the platforms), and whose lowering for the
other platforms of a multi-platform module is a placeholder of zeros: dead code, since the
dispatch's platform conditional is resolved before compilation and never takes that branch. In a
module lowered for one platform other than CUDA it raises, as the kernel itself would.

`fn` must not need differentiation through this primitive (the kernel's `jax.custom_vjp` sits
above it); it batches by `vmap` of `fn`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.extend import core
from jax.interpreters import batching, mlir

_cuda_only_p = core.Primitive("cuda_only")
_cuda_only_p.multiple_results = True


def cuda_only(fn: Callable, *args: jax.Array) -> list[jax.Array]:
    """`fn(*args)` (a list of arrays) staged so that only a CUDA lowering ever lowers it."""
    closed = jax.make_jaxpr(lambda *a: list(fn(*a)))(*args)
    return _cuda_only_p.bind(*args, jaxpr=closed)


def _abstract_eval(*avals, jaxpr):
    return jaxpr.out_avals


def _impl(*args, jaxpr):
    return core.jaxpr_as_fun(jaxpr)(*args)


def _cuda_lowering(ctx, *args, jaxpr):
    return mlir.lower_fun(core.jaxpr_as_fun(jaxpr), multiple_results=True)(ctx, *args)


def _other_lowering(ctx, *args, jaxpr):
    if len(ctx.module_context.platforms) == 1:
        raise ValueError(
            f"this kernel is compiled for CUDA only; on {ctx.module_context.platforms[0]} "
            "run it in Pallas interpret mode"
        )

    def zeros(*_):
        return [jnp.zeros(a.shape, a.dtype) for a in jaxpr.out_avals]

    return mlir.lower_fun(zeros, multiple_results=True)(ctx, *args)


def _batch(args, dims, *, jaxpr):
    batched = jax.vmap(core.jaxpr_as_fun(jaxpr), in_axes=list(dims))  # None = not mapped
    outs = cuda_only(batched, *args)
    return outs, [0] * len(outs)


_cuda_only_p.def_abstract_eval(_abstract_eval)
_cuda_only_p.def_impl(_impl)
mlir.register_lowering(_cuda_only_p, _other_lowering)
mlir.register_lowering(_cuda_only_p, _cuda_lowering, platform="cuda")
batching.primitive_batchers[_cuda_only_p] = _batch
