"""Deformable-DETR encoder (official `DeformableEncoder`, post-norm layers)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sambamotr_jax.detector.deformable_attention import SAVED_NAMES, MSDeformAttn
from sambamotr_jax.nn.lean_backward import relu
from sambamotr_jax.nn.linear import XAVIER
from sambamotr_jax.nn.normalization import layer_norm


def feed_forward(layer: nn.Module, x: jax.Array, recompute: bool) -> jax.Array:
    """The layer's FFN `linear2(relu(linear1(x)))`, submodules created in `layer`.

    Args:
      layer: the calling layer (fields d_model, d_ffn); linear1 / linear2 are its submodules.
      x: (B, Q, d_model).
      recompute: keep only `x` for the backward pass and recompute the (B, Q, d_ffn) hidden
        activations there (`nn.remat`): at 800x1440 they are the largest training residual, 4x
        the model width per encoder token; the cost is one matmul and a ReLU per layer.
    """

    def ffn(mdl: nn.Module, x: jax.Array) -> jax.Array:
        del mdl  # the lifted transform's scope: the Dense modules below are the layer's
        hidden = nn.Dense(layer.d_ffn, kernel_init=XAVIER, name="linear1")(x)
        return nn.Dense(layer.d_model, kernel_init=XAVIER, name="linear2")(relu(hidden))

    return (nn.remat(ffn) if recompute else ffn)(layer, x)


class DeformableEncoderLayer(nn.Module):
    """Deformable self-attention over all levels, then FFN; post-norm."""

    d_model: int = 256
    d_ffn: int = 1024
    n_levels: int = 4
    n_heads: int = 8
    n_points: int = 4
    implementation: str | None = None
    recompute_ffn: bool = False  # recompute FFN hidden activations in the backward pass
    # keep only the layer input and the deformable attention's tensors in the backward pass
    recompute: bool = False

    @nn.compact
    def __call__(
        self,
        src: jax.Array,
        pos: jax.Array,
        reference_points: jax.Array,
        spatial_shapes: Sequence[tuple[int, int]],
        padding_mask: jax.Array,
    ) -> jax.Array:
        """src, pos: (B, S, C); reference_points: (B, S, L, 2); padding_mask: (B, S) -> (B, S, C).

        With `recompute`, the backward pass keeps the layer's inputs and the deformable
        attention's value, sampling locations, weights and output (`SAVED_NAMES`), and recomputes
        the rest: `src + pos`, the residual sums, the two LayerNorms and the FFN. Each of those
        is a (B, S, C) tensor as large as a kept one; recomputing them costs the attention's
        output projection and the FFN's two matmuls.
        """

        def body(mdl, src, pos, reference_points, padding_mask):
            del mdl  # the lifted transform's scope: the submodules below are the layer's
            attn = MSDeformAttn(
                self.d_model,
                self.n_levels,
                self.n_heads,
                self.n_points,
                self.implementation,
                name="self_attn",
            )
            src = layer_norm("norm1", lean_backward=True)(
                src + attn(src + pos, reference_points, src, spatial_shapes, padding_mask)
            )
            ffn = feed_forward(self, src, self.recompute_ffn and not self.recompute)
            return layer_norm("norm2", lean_backward=True)(src + ffn)

        if self.recompute:
            policy = jax.checkpoint_policies.save_only_these_names(*SAVED_NAMES)
            body = nn.remat(body, policy=policy)
        return body(self, src, pos, reference_points, padding_mask)


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
    recompute_ffn: bool = False  # recompute FFN hidden activations in the backward pass
    recompute: bool = False  # `DeformableEncoderLayer.recompute`

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
                self.recompute_ffn,
                self.recompute,
                name=f"layers_{i}",
            )(out, pos, reference_points, spatial_shapes, padding_mask)
        return out
