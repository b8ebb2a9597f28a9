"""Linear layers as the official PyTorch code builds them: initializers, `dense`, `MLP`.

`HIGHEST` is the matmul precision of the products that must match float32 PyTorch on GPUs
(where the default precision may use TF32).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.nn.lean_backward import relu

Initializer = Callable[..., jax.Array]

HIGHEST = jax.lax.Precision.HIGHEST
XAVIER = nn.initializers.xavier_uniform()  # torch `xavier_uniform_` (the official resets)


def torch_uniform_bias(fan_in: int) -> Initializer:
    """torch's default Linear/Conv bias initializer, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def dense(features: int, fan_in: int, *, use_bias: bool = True, name: str) -> nn.Dense:
    """torch ``nn.Linear`` as the official query updaters initialize it: xavier weights, torch's
    default bias."""
    return nn.Dense(
        features,
        use_bias=use_bias,
        kernel_init=XAVIER,
        bias_init=torch_uniform_bias(fan_in),
        name=name,
    )


class MLP(nn.Module):
    """Official ``MLP``: ``num_layers`` Linear layers (named ``layers_i``), ReLU between them.

    Initialization: ``kernel_init`` weights; biases zero, or torch's default U(+-1/sqrt(fan_in))
    with ``torch_bias`` (the query updaters); ``last_kernel_init`` / ``last_bias_init`` override
    the last layer (e.g. box heads that start at zero).
    """

    hidden_dim: int
    output_dim: int
    num_layers: int
    kernel_init: Initializer = nn.initializers.lecun_normal()
    torch_bias: bool = False
    last_kernel_init: Initializer | None = None
    last_bias_init: Initializer | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (..., in) -> (..., output_dim)."""
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            kernel_init, bias_init = self.kernel_init, nn.initializers.zeros
            if self.torch_bias:
                bias_init = torch_uniform_bias(x.shape[-1])
            if last:
                kernel_init = self.last_kernel_init or kernel_init
                bias_init = self.last_bias_init or bias_init
            x = nn.Dense(
                self.output_dim if last else self.hidden_dim,
                kernel_init=kernel_init,
                bias_init=bias_init,
                name=f"layers_{i}",
            )(x)
            if not last:
                x = relu(x)
        return x
