"""Multi-scale deformable attention module (official `MSDeformAttn`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

from kernels import ms_deform_attn
from sambamotr_jax.nn.lean_backward import softmax, zero_rows
from sambamotr_jax.nn.linear import XAVIER  # the official transformer's reset of every matrix

# `checkpoint_name` s of the deformable attention's kernel inputs and output: a
# `save_only_these_names` policy over a layer keeps these and recomputes the layer's cheap rest.
SAVED_NAMES = ("msda_value", "msda_locations", "msda_weights", "msda_output")


def _sampling_offsets_bias_init(n_heads: int, n_levels: int, n_points: int):
    """Official grid init: head h points along angle 2*pi*h/M, point p at distance p + 1."""

    def init(key, shape, dtype=jnp.float32):
        del key
        thetas = np.arange(n_heads, dtype=np.float32) * (2.0 * math.pi / n_heads)
        grid = np.stack([np.cos(thetas), np.sin(thetas)], -1)  # (M, 2)
        grid = grid / np.abs(grid).max(-1, keepdims=True)
        grid = np.tile(grid[:, None, None, :], (1, n_levels, n_points, 1))  # (M, L, P, 2)
        grid = grid * np.arange(1, n_points + 1, dtype=np.float32)[None, None, :, None]
        return jnp.asarray(grid.reshape(shape), dtype)

    return init


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention.

    Attributes:
      d_model: hidden size C.
      n_levels: feature levels L.
      n_heads: heads M.
      n_points: sampling points P per head and level.
      implementation: `kernels.ms_deform_attn` implementation (None = backend default).
    """

    d_model: int = 256
    n_levels: int = 4
    n_heads: int = 8
    n_points: int = 4
    implementation: str | None = None

    @nn.compact
    def __call__(
        self,
        query: jax.Array,
        reference_points: jax.Array,
        input_flatten: jax.Array,
        spatial_shapes: Sequence[tuple[int, int]],
        input_padding_mask: jax.Array | None = None,
    ) -> jax.Array:
        """Attends from each query to P points per head and level around its reference.

        Args:
          query: (N, Q, C).
          reference_points: (N, Q, L, 2) normalized points, or (N, Q, L, 4) boxes (cx, cy, w, h).
          input_flatten: (N, S, C), S = sum of H * W.
          spatial_shapes: static (H, W) per level.
          input_padding_mask: (N, S) bool, True = padding (its values are zeroed).

        Returns:
          (N, Q, C).
        """
        n, q, _ = query.shape
        s = input_flatten.shape[1]
        m, nl, p = self.n_heads, self.n_levels, self.n_points
        zeros = nn.initializers.zeros
        value = nn.Dense(self.d_model, kernel_init=XAVIER, bias_init=zeros, name="value_proj")(
            input_flatten
        )
        value = value.reshape(n, s, m, self.d_model // m)  # (N, S, M, D)
        if input_padding_mask is not None:
            # zero_rows keeps the (N, S) mask for its backward pass, not a full-size broadcast
            value = zero_rows(value, input_padding_mask)
        value = checkpoint_name(value, "msda_value")
        offsets = nn.Dense(
            m * nl * p * 2,
            kernel_init=zeros,
            bias_init=_sampling_offsets_bias_init(m, nl, p),
            name="sampling_offsets",
        )(query)
        offsets = offsets.reshape(n, q, m, nl, p, 2)  # (N, Q, M, L, P, 2)
        weights = nn.Dense(
            m * nl * p, kernel_init=zeros, bias_init=zeros, name="attention_weights"
        )(query)
        # softmax over all L*P samples of a head, taken on the kernel's own layout so that the
        # backward pass keeps one copy of the weights
        weights = weights.reshape(n, q, m, nl, p)  # (N, Q, M, L, P)
        weights = checkpoint_name(softmax(weights, (-2, -1)), "msda_weights")
        if reference_points.shape[-1] == 2:
            # offsets are in pixels of each level: divide by (W, H)
            normalizer = jnp.asarray([[w, h] for h, w in spatial_shapes], jnp.float32)  # (L, 2)
            ref = reference_points[:, :, None, :, None, :]  # (N, Q, 1, L, 1, 2)
            locations = ref + offsets / normalizer[None, None, None, :, None, :]
        elif reference_points.shape[-1] == 4:
            ref_xy = reference_points[:, :, None, :, None, :2]  # (N, Q, 1, L, 1, 2)
            ref_wh = reference_points[:, :, None, :, None, 2:]
            locations = ref_xy + offsets / p * ref_wh * 0.5
        else:
            raise ValueError(f"reference_points must end in 2 or 4, got {reference_points.shape}")
        locations = checkpoint_name(locations, "msda_locations")
        out = ms_deform_attn(
            value, tuple(spatial_shapes), locations, weights, implementation=self.implementation
        )  # (N, Q, C)
        out = checkpoint_name(out, "msda_output")
        return nn.Dense(self.d_model, kernel_init=XAVIER, bias_init=zeros, name="output_proj")(out)
