"""Deformable-DETR encoder (official `DeformableEncoder`, post-norm layers)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sambamotr_jax.deformable_attention import XAVIER, MSDeformAttn


def layer_norm(name: str) -> nn.LayerNorm:
    """PyTorch `nn.LayerNorm` numerics (eps 1e-5, two-pass variance)."""
    return nn.LayerNorm(epsilon=1e-5, use_fast_variance=False, name=name)


class DeformableEncoderLayer(nn.Module):
    """Deformable self-attention over all levels, then FFN; post-norm."""

    d_model: int = 256
    d_ffn: int = 1024
    n_levels: int = 4
    n_heads: int = 8
    n_points: int = 4
    implementation: str | None = None

    @nn.compact
    def __call__(
        self,
        src: jax.Array,
        pos: jax.Array,
        reference_points: jax.Array,
        spatial_shapes: Sequence[tuple[int, int]],
        padding_mask: jax.Array,
    ) -> jax.Array:
        """src, pos: (B, S, C); reference_points: (B, S, L, 2); padding_mask: (B, S) -> (B, S, C)."""
        attn = MSDeformAttn(
            self.d_model,
            self.n_levels,
            self.n_heads,
            self.n_points,
            self.implementation,
            name="self_attn",
        )
        src = layer_norm("norm1")(
            src + attn(src + pos, reference_points, src, spatial_shapes, padding_mask)
        )
        ffn = nn.Dense(self.d_model, kernel_init=XAVIER, name="linear2")(
            nn.relu(nn.Dense(self.d_ffn, kernel_init=XAVIER, name="linear1")(src))
        )
        return layer_norm("norm2")(src + ffn)


def encoder_reference_points(
    spatial_shapes: Sequence[tuple[int, int]], valid_ratios: jax.Array
) -> jax.Array:
    """Pixel centres of every level, normalized by the valid (unpadded) extent.

    Args:
      spatial_shapes: static (H, W) per level.
      valid_ratios: (B, L, 2) valid fraction (w, h) of every level.

    Returns:
      (B, S, L, 2): each token's centre, rescaled into every level's valid extent.
    """
    refs = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        ref_y, ref_x = np.meshgrid(
            np.arange(h, dtype=np.float32) + 0.5,
            np.arange(w, dtype=np.float32) + 0.5,
            indexing="ij",
        )
        ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, lvl, 1] * h)  # (B, h*w)
        ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, lvl, 0] * w)
        refs.append(jnp.stack((ref_x, ref_y), -1))  # (B, h*w, 2)
    ref = jnp.concatenate(refs, 1)  # (B, S, 2)
    return ref[:, :, None] * valid_ratios[:, None]  # (B, S, L, 2)


class DeformableEncoder(nn.Module):
    """A stack of `DeformableEncoderLayer` s (named `layers_i`)."""

    num_layers: int = 6
    d_model: int = 256
    d_ffn: int = 1024
    n_levels: int = 4
    n_heads: int = 8
    n_points: int = 4
    implementation: str | None = None

    @nn.compact
    def __call__(
        self,
        src: jax.Array,
        spatial_shapes: Sequence[tuple[int, int]],
        valid_ratios: jax.Array,
        pos: jax.Array,
        padding_mask: jax.Array,
    ) -> jax.Array:
        """src, pos: (B, S, C); valid_ratios: (B, L, 2); padding_mask: (B, S) -> memory (B, S, C)."""
        reference_points = encoder_reference_points(spatial_shapes, valid_ratios)
        out = src
        for i in range(self.num_layers):
            out = DeformableEncoderLayer(
                self.d_model,
                self.d_ffn,
                self.n_levels,
                self.n_heads,
                self.n_points,
                self.implementation,
                name=f"layers_{i}",
            )(out, pos, reference_points, spatial_shapes, padding_mask)
        return out
