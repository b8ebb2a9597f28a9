"""Deformable transformer: level flattening, encoder, query split, decoder (official
`DeformableTransformer`, single stage)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.detector.deformable_decoder import DeformableDecoder
from sambamotr_jax.detector.deformable_encoder import DeformableEncoder
from sambamotr_jax.nn.linear import XAVIER


def valid_ratio(mask: jax.Array) -> jax.Array:
    """(B, H, W) padding mask -> (B, 2) valid fraction (w, h), from the first column / row."""
    _, h, w = mask.shape
    valid_h = jnp.sum(~mask[:, :, 0], 1).astype(jnp.float32)
    valid_w = jnp.sum(~mask[:, 0, :], 1).astype(jnp.float32)
    return jnp.stack([valid_w / w, valid_h / h], -1)


@flax.struct.dataclass
class EncodedFrames:
    """What the decoder reads of B encoded frames (a pytree; the level shapes are static)."""

    memory: jax.Array  # (B, S, C) encoder output, S = sum of H_l * W_l
    mask_flatten: jax.Array  # (B, S) bool, True = padding
    valid_ratios: jax.Array  # (B, L, 2) valid fraction (w, h) per level
    spatial_shapes: tuple[tuple[int, int], ...] = flax.struct.field(pytree_node=False)


class DeformableTransformer(nn.Module):
    """Encoder + decoder over the flattened multi-level features.

    Attributes mirror the official constructor; `use_dab` drops `reference_points` (the DAB
    detector gives 4-D anchors) and makes the decoder derive the query position from them.
    """

    d_model: int = 256
    d_ffn: int = 1024
    n_feature_levels: int = 4
    n_heads: int = 8
    n_enc_points: int = 4
    n_dec_points: int = 4
    n_enc_layers: int = 6
    n_dec_layers: int = 6
    merge_det_track_layer: int = 1
    n_det_queries: int = 300
    use_dab: bool = False
    implementation: str | None = None
    recompute_ffn: bool = False  # recompute FFN hidden activations in the backward pass
    # `DeformableEncoderLayer.recompute` and `DeformableDecoderLayer.recompute_value`
    recompute_encoder: bool = False

    def setup(self):
        self.level_embed = self.param(
            "level_embed", nn.initializers.normal(1.0), (self.n_feature_levels, self.d_model)
        )
        if not self.use_dab:
            self.reference_points = nn.Dense(2, kernel_init=XAVIER, bias_init=nn.initializers.zeros)
        self.encoder = DeformableEncoder(
            self.n_enc_layers,
            self.d_model,
            self.d_ffn,
            self.n_feature_levels,
            self.n_heads,
            self.n_enc_points,
            self.implementation,
            self.recompute_ffn,
            self.recompute_encoder,
        )
        self.decoder = DeformableDecoder(
            self.n_dec_layers,
            self.d_model,
            self.d_ffn,
            self.n_feature_levels,
            self.n_heads,
            self.n_dec_points,
            self.n_det_queries,
            self.merge_det_track_layer,
            self.use_dab,
            self.implementation,
            self.recompute_ffn,
            self.recompute_encoder,
        )

    def det_reference_points(self, det_query_pos: jax.Array) -> jax.Array:
        """Deformable-DETR detection references (logit x, y): (Nd, C) -> (Nd, 2)."""
        return self.reference_points(det_query_pos)

    def encode(
        self,
        srcs: Sequence[jax.Array],
        masks: Sequence[jax.Array],
        pos_embeds: Sequence[jax.Array],
    ) -> EncodedFrames:
        """Flattens the levels and runs the encoder.

        Args:
          srcs: per level (B, H_l, W_l, C); masks: per level (B, H_l, W_l) bool, True = padding;
          pos_embeds: per level (B, H_l, W_l, C).
        """
        spatial_shapes = tuple((int(s.shape[1]), int(s.shape[2])) for s in srcs)
        bsz = srcs[0].shape[0]
        src_flatten = jnp.concatenate(
            [s.reshape(bsz, -1, s.shape[-1]) for s in srcs], 1
        )  # (B, S, C)
        mask_flatten = jnp.concatenate([m.reshape(bsz, -1) for m in masks], 1)  # (B, S)
        pos_flatten = jnp.concatenate(
            [
                p.reshape(bsz, -1, p.shape[-1]) + self.level_embed[lvl]
                for lvl, p in enumerate(pos_embeds)
            ],
            1,
        )  # (B, S, C)
        valid_ratios = jnp.stack([valid_ratio(m) for m in masks], 1)  # (B, L, 2)
        memory = self.encoder(src_flatten, spatial_shapes, valid_ratios, pos_flatten, mask_flatten)
        return EncodedFrames(memory, mask_flatten, valid_ratios, spatial_shapes)

    def decode(
        self,
        encoded: EncodedFrames,
        query_embed: jax.Array,
        ref_pts: jax.Array,
        query_mask: jax.Array,
        bbox_embed: Sequence[Callable[[jax.Array], jax.Array]],
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """The decoder on encoded frames (arguments and results: `__call__`)."""
        if self.use_dab:
            query_pos, tgt = None, query_embed
        else:
            query_pos, tgt = query_embed[..., : self.d_model], query_embed[..., self.d_model :]
        init_reference = jax.nn.sigmoid(ref_pts)
        outputs, inter_references, inter_queries = self.decoder(
            tgt,
            init_reference,
            encoded.memory,
            encoded.spatial_shapes,
            encoded.valid_ratios,
            query_pos,
            query_mask,
            encoded.mask_flatten,
            bbox_embed,
        )
        return outputs, init_reference, inter_references, inter_queries

    def __call__(
        self,
        srcs: Sequence[jax.Array],
        masks: Sequence[jax.Array],
        pos_embeds: Sequence[jax.Array],
        query_embed: jax.Array,
        ref_pts: jax.Array,
        query_mask: jax.Array,
        bbox_embed: Sequence[Callable[[jax.Array], jax.Array]],
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """
        Args:
          srcs: per level (B, H_l, W_l, C); masks: per level (B, H_l, W_l) bool, True = padding;
          pos_embeds: per level (B, H_l, W_l, C).
          query_embed: (B, Q, 2C) = [pos | tgt] (Deformable-DETR) or (B, Q, C) tgt (DAB).
          ref_pts: (B, Q, 4) references in logit space.
          query_mask: (B, Q) True = padded query.
          bbox_embed: the per-layer box heads (shared with the detector).

        Returns:
          outputs (n_dec, B, Q, C), init_reference (B, Q, 4) in sigmoid space, references after
          each layer (n_dec, B, Q, 4), inputs of each decoder layer (n_dec, B, Q, C).
        """
        encoded = self.encode(srcs, masks, pos_embeds)
        return self.decode(encoded, query_embed, ref_pts, query_mask, bbox_embed)
