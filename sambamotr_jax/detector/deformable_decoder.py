"""Deformable-DETR decoder with iterative box refinement and the DAB variant (official
`DeformableDecoder`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.detector.deformable_attention import SAVED_NAMES, MSDeformAttn
from sambamotr_jax.detector.deformable_encoder import feed_forward
from sambamotr_jax.nn.box_ops import inverse_sigmoid, pos_to_pos_embed
from sambamotr_jax.nn.linear import MLP, XAVIER
from sambamotr_jax.nn.multihead_attention import MultiheadAttention
from sambamotr_jax.nn.normalization import layer_norm


class DeformableDecoderLayer(nn.Module):
    """Self-attention between queries, deformable cross-attention to the memory, FFN; post-norm.

    With ``merge_det_track=False`` only the first ``n_det_queries`` queries are processed; the
    others (track queries) are returned unchanged.
    """

    d_model: int = 256
    d_ffn: int = 1024
    n_levels: int = 4
    n_heads: int = 8
    n_points: int = 4
    n_det_queries: int = 300
    implementation: str | None = None
    recompute_ffn: bool = False  # recompute FFN hidden activations in the backward pass
    # recompute the cross-attention's value (the projected encoder memory) in the backward pass
    recompute_value: bool = False

    @nn.compact
    def __call__(
        self,
        tgt: jax.Array,
        query_pos: jax.Array,
        reference_points: jax.Array,
        src: jax.Array,
        spatial_shapes: Sequence[tuple[int, int]],
        query_mask: jax.Array,
        src_padding_mask: jax.Array,
        merge_det_track: bool,
    ) -> jax.Array:
        """
        Args:
          tgt, query_pos: (B, Q, C).
          reference_points: (B, Q, L, 2|4), already scaled by the valid ratios.
          src: (B, S, C) encoder memory; src_padding_mask: (B, S).
          query_mask: (B, Q) True = padded query (masked as a key).
          merge_det_track: static; False = detection queries only.

        Returns:
          (B, Q, C).
        """
        track_tgt = None
        if not merge_det_track:
            nd = self.n_det_queries
            track_tgt = tgt[:, nd:]
            tgt, query_pos = tgt[:, :nd], query_pos[:, :nd]
            reference_points, query_mask = reference_points[:, :nd], query_mask[:, :nd]
        qk = tgt + query_pos
        tgt2 = MultiheadAttention(self.d_model, self.n_heads, name="self_attn")(
            qk, qk, tgt, query_mask
        )  # (B, Q, C)
        tgt = layer_norm("norm2", lean_backward=True)(tgt + tgt2)

        def cross_attention(mdl, query, reference_points, src, src_padding_mask):
            del mdl  # the lifted transform's scope: the module below is the layer's
            return MSDeformAttn(
                self.d_model,
                self.n_levels,
                self.n_heads,
                self.n_points,
                self.implementation,
                name="cross_attn",
            )(query, reference_points, src, spatial_shapes, src_padding_mask)

        if self.recompute_value:
            # the value has a row per encoder token (S, ~24k at 800x1440) for a few hundred
            # queries: one (S, C) x (C, C) matmul recomputes it in the backward pass
            # (the other attention tensors are kept: a custom_vjp's residuals count as unnamed)
            keep = [name for name in SAVED_NAMES if name != "msda_value"]
            policy = jax.checkpoint_policies.save_only_these_names(*keep)
            cross_attention = nn.remat(cross_attention, policy=policy)
        tgt2 = cross_attention(self, tgt + query_pos, reference_points, src, src_padding_mask)
        tgt = layer_norm("norm1", lean_backward=True)(tgt + tgt2)
        tgt = layer_norm("norm3", lean_backward=True)(
            tgt + feed_forward(self, tgt, self.recompute_ffn)
        )
        if track_tgt is not None:
            tgt = jnp.concatenate((tgt, track_tgt), axis=1)
        return tgt


class DeformableDecoder(nn.Module):
    """Decoder with iterative box refinement (heads passed in, shared with the detector).

    Reference handling follows the official code exactly:
    * Deformable-DETR: layer 0 uses only (x, y) of every reference; the others use 4-D boxes.
    * layers before ``merge_det_track_layer`` update only the detection references; track
      queries keep their input 4-D reference.
    * references are detached (stop_gradient) between layers.
    * DAB: the query position is ``query_scale(output) * ref_point_head(sine(reference))``
      (scale 1 at layer 0).
    """

    num_layers: int = 6
    d_model: int = 256
    d_ffn: int = 1024
    n_levels: int = 4
    n_heads: int = 8
    n_points: int = 4
    n_det_queries: int = 300
    merge_det_track_layer: int = 1
    use_dab: bool = False
    implementation: str | None = None
    recompute_ffn: bool = False  # recompute FFN hidden activations in the backward pass
    recompute_value: bool = False  # `DeformableDecoderLayer.recompute_value`

    @nn.compact
    def __call__(
        self,
        tgt: jax.Array,
        reference_points: jax.Array,
        src: jax.Array,
        spatial_shapes: Sequence[tuple[int, int]],
        valid_ratios: jax.Array,
        query_pos: jax.Array | None,
        query_mask: jax.Array,
        src_padding_mask: jax.Array,
        bbox_embed: Sequence[Callable[[jax.Array], jax.Array]],
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """
        Args:
          tgt: (B, Q, C) query content.
          reference_points: (B, Q, 4) sigmoid-space initial references.
          src: (B, S, C) memory; src_padding_mask: (B, S).
          valid_ratios: (B, L, 2).
          query_pos: (B, Q, C) (Deformable-DETR) or None (DAB: derived from the references).
          query_mask: (B, Q) True = padded query.
          bbox_embed: one box head per layer (the detector's, shared).

        Returns:
          outputs (n_layers, B, Q, C), references after each layer (n_layers, B, Q, 4),
          inputs of each layer (n_layers, B, Q, C).
        """
        nd = self.n_det_queries
        if self.use_dab:
            query_scale = MLP(self.d_model, self.d_model, 2, kernel_init=XAVIER, name="query_scale")
            ref_point_head = MLP(
                self.d_model, self.d_model, 2, kernel_init=XAVIER, name="ref_point_head"
            )
        output = tgt
        ref_backup = reference_points
        outputs, refs, inputs = [], [], []
        for lid in range(self.num_layers):
            if lid == 0 and not self.use_dab:
                reference_points = reference_points[..., :2]
            vr = (
                valid_ratios
                if reference_points.shape[-1] == 2
                else jnp.concatenate([valid_ratios] * 2, -1)
            )
            ref_input = reference_points[:, :, None] * vr[:, None]  # (B, Q, L, 2|4)
            if self.use_dab:
                anchor_embed = pos_to_pos_embed(
                    ref_input[:, :, 0, :], self.d_model // 2
                )  # (B, Q, 2C)
                raw_query_pos = ref_point_head(anchor_embed)
                query_pos = raw_query_pos if lid == 0 else query_scale(output) * raw_query_pos
            inputs.append(output)
            output = DeformableDecoderLayer(
                self.d_model,
                self.d_ffn,
                self.n_levels,
                self.n_heads,
                self.n_points,
                nd,
                self.implementation,
                self.recompute_ffn,
                self.recompute_value,
                name=f"layers_{lid}",
            )(
                output,
                query_pos,
                ref_input,
                src,
                spatial_shapes,
                query_mask,
                src_padding_mask,
                merge_det_track=lid >= self.merge_det_track_layer,
            )
            delta = bbox_embed[lid](output)  # (B, Q, 4)
            if reference_points.shape[-1] == 4:
                new_ref = jax.nn.sigmoid(delta + inverse_sigmoid(reference_points))
            else:
                xy = delta[..., :2] + inverse_sigmoid(reference_points)
                new_ref = jax.nn.sigmoid(jnp.concatenate([xy, delta[..., 2:]], -1))
            new_ref = jax.lax.stop_gradient(new_ref)
            if lid < self.merge_det_track_layer:
                # track queries keep their input 4-D reference
                reference_points = jnp.concatenate((new_ref[:, :nd], ref_backup[:, nd:]), axis=1)
            else:
                reference_points = new_ref
            outputs.append(output)
            refs.append(reference_points)
        return jnp.stack(outputs), jnp.stack(refs), jnp.stack(inputs)
