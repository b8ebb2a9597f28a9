"""Layers whose backward pass keeps less memory than JAX's default linearization.

Training scans the frames of a clip, and every value a frame keeps for its backward pass is
stacked over the clip, so each full-size residual costs `frames x` its size (at 800x1440 one
(S, 256) float32 array of the encoder is 24.5 MB, 245 MB over a 10-frame clip). Linearizing the
plain formulas keeps more than the math needs:

- `nn.relu` keeps its output, a boolean `x > 0` and a zero broadcast; the derivative only needs
  the output (`y > 0`), which the next layer keeps anyway.
- `flax.linen.LayerNorm` keeps four full-size intermediates; its derivative needs the input and
  two per-row statistics (PyTorch's LayerNorm keeps exactly these).
- `jax.nn.softmax` over two axes keeps its output and its unnormalized exponentials; the
  derivative needs the output only.
- `jnp.where(mask[..., None, None], 0, value)` keeps the mask broadcast to the full shape; the
  derivative only needs the (N, S) mask.

The forward values here are those of the plain formulas, operation for operation; only what the
backward pass reads is chosen by hand (`jax.custom_vjp`). `benchmarks/train_residuals.py` lists
what a training frame keeps.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp


@jax.custom_vjp
def relu(x: jax.Array) -> jax.Array:
    """max(x, 0); the backward pass reads only the output (gradient 0 at x == 0, as jax.nn.relu)."""
    return jnp.maximum(x, 0)


def _relu_fwd(x):
    y = jnp.maximum(x, 0)
    return y, y


def _relu_bwd(y, g):
    return (jnp.where(y > 0, g, jnp.zeros_like(g)),)


relu.defvjp(_relu_fwd, _relu_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def softmax(x: jax.Array, axis: int | tuple[int, ...] = -1) -> jax.Array:
    """`jax.nn.softmax(x, axis)`; the backward pass reads only the output."""
    return jax.nn.softmax(x, axis=axis)


def _softmax_fwd(x, axis):
    y = jax.nn.softmax(x, axis=axis)
    return y, y


def _softmax_bwd(axis, y, g):
    return (y * (g - (g * y).sum(axis, keepdims=True)),)


softmax.defvjp(_softmax_fwd, _softmax_bwd)


@jax.custom_vjp
def zero_rows(x: jax.Array, mask: jax.Array) -> jax.Array:
    """`x` with the rows where `mask` is True set to 0 (the official `masked_fill(mask, 0)`).

    Args:
      x: (N, S, ...).
      mask: (N, S) bool, True = zeroed.
    """
    return jnp.where(_expand(mask, x), jnp.zeros((), x.dtype), x)


def _expand(mask: jax.Array, x: jax.Array) -> jax.Array:
    return mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))  # (N, S, 1, ...)


def _zero_rows_fwd(x, mask):
    return zero_rows(x, mask), mask


def _zero_rows_bwd(mask, g):
    # The mask is boolean: its cotangent is float0.
    zero_mask = jnp.zeros(mask.shape, jax.dtypes.float0)
    return jnp.where(_expand(mask, g), jnp.zeros((), g.dtype), g), zero_mask


zero_rows.defvjp(_zero_rows_fwd, _zero_rows_bwd)


def _stats(x: jax.Array, epsilon: float) -> tuple[jax.Array, jax.Array]:
    """Mean and 1 / std over the last axis in at least float32, two-pass variance (as torch)."""
    x32 = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean = x32.mean(-1)  # (...,)
    var = jnp.square(x32 - mean[..., None]).mean(-1)
    return mean, jax.lax.rsqrt(var + epsilon)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float) -> jax.Array:
    return _layer_norm_fwd(x, scale, bias, epsilon)[0]


def _layer_norm_fwd(x, scale, bias, epsilon):
    mean, rstd = _stats(x, epsilon)
    # flax's order of operations: (x - mean) * (rstd * scale) + bias
    y = (x - mean[..., None]) * (rstd[..., None] * scale) + bias
    out_dtype = jnp.result_type(x, scale, bias)
    return y.astype(out_dtype), (x, mean, rstd, scale)


def _layer_norm_bwd(epsilon, res, g):
    del epsilon  # folded into rstd
    x, mean, rstd, scale = res
    g32 = g.astype(mean.dtype)
    xhat = (x.astype(mean.dtype) - mean[..., None]) * rstd[..., None]  # (..., C)
    rows = tuple(range(g.ndim - 1))
    d_bias = g32.sum(rows)
    d_scale = (g32 * xhat).sum(rows)
    gs = g32 * scale.astype(mean.dtype)
    dx = rstd[..., None] * (
        gs - gs.mean(-1, keepdims=True) - xhat * (gs * xhat).mean(-1, keepdims=True)
    )
    return dx.astype(x.dtype), d_scale.astype(scale.dtype), d_bias.astype(scale.dtype)


_layer_norm.defvjp(_layer_norm_fwd, _layer_norm_bwd)


class LayerNorm(nn.Module):
    """torch `nn.LayerNorm` over the last axis (two-pass variance), parameters `scale` / `bias`.

    The same parameters and forward values as `flax.linen.LayerNorm(use_fast_variance=False)`;
    the backward pass keeps the input and two per-row statistics instead of four full-size
    intermediates.
    """

    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (..., C) -> (..., C)."""
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
        return _layer_norm(x, scale, bias, self.epsilon)
