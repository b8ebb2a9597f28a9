"""The SambaMOTR / MeMOTR detector: ResNet + Deformable-DETR (or DAB-Deformable-DETR) with
detection queries and a fixed-capacity slot of track queries."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.detector.backbone import BackboneWithPE, resnet_out_channels
from sambamotr_jax.detector.deformable_transformer import DeformableTransformer, EncodedFrames
from sambamotr_jax.nn.box_ops import inverse_sigmoid
from sambamotr_jax.nn.linear import MLP, XAVIER
from sambamotr_jax.nn.position_encoding import resize_mask, sine_position_embedding
from sambamotr_jax.nn.small_map_conv import Conv


def _first_box_bias(key, shape, dtype=jnp.float32):
    del key
    return jnp.zeros(shape, dtype).at[2:].set(-2.0)


class Detector(nn.Module):
    """Official `SambaMOTR` / `MeMOTR` detector part (everything except the query updater).

    Attributes:
      num_classes: C classes of the focal-loss class head (1 for DanceTrack).
      backbone_name: 'resnet50' (official), 'resnet18' or 'resnet34'.
      hidden_dim, ffn_dim, n_heads: transformer sizes.
      n_feature_levels: 4 (C3, C4, C5 and a stride-2 conv on C5).
      n_enc_points, n_dec_points, n_enc_layers, n_dec_layers: deformable transformer sizes.
      n_det_queries: detection queries, placed before the track slots.
      merge_det_track_layer: decoder layers before it process detection queries only.
      use_dab: DAB-Deformable-DETR (4-D anchors, 256-d track queries) instead of
        Deformable-DETR (512-d = [pos | tgt] track queries).
      implementation: `kernels.ms_deform_attn` implementation (None = default).
      recompute_ffn: training memory only (outputs unchanged): the transformer FFNs keep only
        their input for the backward pass and recompute their hidden activations there.
      recompute_encoder: training memory only: the encoder layers keep their input and the
        deformable attention's tensors and recompute the rest (`DeformableEncoderLayer`).
    """

    num_classes: int = 1
    backbone_name: str = "resnet50"
    hidden_dim: int = 256
    ffn_dim: int = 1024
    n_heads: int = 8
    n_feature_levels: int = 4
    n_enc_points: int = 4
    n_dec_points: int = 4
    n_enc_layers: int = 6
    n_dec_layers: int = 6
    n_det_queries: int = 300
    merge_det_track_layer: int = 1
    use_dab: bool = False
    implementation: str | None = None
    recompute_ffn: bool = False  # recompute FFN hidden activations in the backward pass
    recompute_encoder: bool = False  # recompute the encoder layers' cheap tensors (backward)

    @property
    def track_query_dim(self) -> int:
        """Width of a track query: C (DAB) or 2C = [pos | tgt] (Deformable-DETR)."""
        return self.hidden_dim if self.use_dab else 2 * self.hidden_dim

    def setup(self):
        c = self.hidden_dim
        self.backbone = BackboneWithPE(self.backbone_name, c)
        n_backbone_levels = len(resnet_out_channels(self.backbone_name))
        projs = []
        for lvl in range(self.n_feature_levels):
            if lvl < n_backbone_levels:
                conv = nn.Conv(c, (1, 1), kernel_init=XAVIER)
            else:
                conv = Conv(  # on a tiny layer4 map: see sambamotr_jax/nn/small_map_conv.py
                    c, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=XAVIER
                )
            norm = nn.GroupNorm(num_groups=32, epsilon=1e-5, use_fast_variance=False)
            projs.append((conv, norm))
        self.feature_projs = projs  # feature_projs_{lvl}_0 (conv), feature_projs_{lvl}_1 (norm)
        # Heads: one per decoder layer, shared with the decoder's box refinement.
        prior_bias = -math.log((1 - 0.01) / 0.01)
        self.class_embed = [
            nn.Dense(self.num_classes, bias_init=nn.initializers.constant(prior_bias))
            for _ in range(self.n_dec_layers)
        ]
        self.bbox_embed = [
            MLP(
                c,
                4,
                3,
                last_kernel_init=nn.initializers.zeros,
                # official: the first head starts with w, h logits at -2
                last_bias_init=_first_box_bias if i == 0 else nn.initializers.zeros,
            )
            for i in range(self.n_dec_layers)
        ]
        self.transformer = DeformableTransformer(
            d_model=c,
            d_ffn=self.ffn_dim,
            n_feature_levels=self.n_feature_levels,
            n_heads=self.n_heads,
            n_enc_points=self.n_enc_points,
            n_dec_points=self.n_dec_points,
            n_enc_layers=self.n_enc_layers,
            n_dec_layers=self.n_dec_layers,
            merge_det_track_layer=self.merge_det_track_layer,
            n_det_queries=self.n_det_queries,
            use_dab=self.use_dab,
            implementation=self.implementation,
            recompute_ffn=self.recompute_ffn,
            recompute_encoder=self.recompute_encoder,
        )
        nd = self.n_det_queries
        normal = nn.initializers.normal(1.0)
        if self.use_dab:
            self.det_anchor = self.param("det_anchor", normal, (nd, 4))
            self.det_query_embed = self.param("det_query_embed", normal, (nd, c))
        else:
            self.det_query_embed = self.param("det_query_embed", normal, (nd, 2 * c))

    def encode(self, images: jax.Array, pad_mask: jax.Array) -> EncodedFrames:
        """The query-independent part: backbone, input projections and encoder.

        Args:
          images: (B, H, W, 3) float32, ImageNet-normalized.
          pad_mask: (B, H, W) bool, True = padding.

        Returns:
          `EncodedFrames` of the B images (what `decode` reads; training runs this on all the
          frames of a clip at once, the tracker frame by frame).
        """
        feats, masks, pos = self.backbone(images, pad_mask)
        srcs = []
        for lvl, (conv, norm) in enumerate(self.feature_projs):
            if lvl < len(feats):
                x = feats[lvl]
            else:
                x = feats[-1] if lvl == len(feats) else srcs[-1]
            x = norm(conv(x))
            srcs.append(x)
            if lvl >= len(feats):
                mask = resize_mask(pad_mask, x.shape[1:3])
                masks = [*masks, mask]
                pos = [*pos, sine_position_embedding(mask, self.hidden_dim // 2)]
        return self.transformer.encode(srcs, masks, pos)

    def decode(
        self,
        encoded: EncodedFrames,
        track_query_embed: jax.Array,
        track_ref_pts: jax.Array,
        track_mask: jax.Array,
    ) -> dict[str, jax.Array]:
        """The decoder and heads on encoded frames with K track slots (see `__call__`)."""
        c = self.hidden_dim
        bsz = encoded.memory.shape[0]
        nd = self.n_det_queries

        # Queries: detections first, then the track slots.
        if self.use_dab:
            det_ref = self.det_anchor  # (Nd, 4)
        else:
            det_xy = self.transformer.det_reference_points(self.det_query_embed[:, :c])  # (Nd, 2)
            det_ref = jnp.concatenate([det_xy, jnp.zeros_like(det_xy)], -1)  # (Nd, 4): w = h = 0
        det_query_embed = self.det_query_embed
        ref_pts = jnp.concatenate(
            [jnp.broadcast_to(det_ref, (bsz, nd, 4)), track_ref_pts.astype(jnp.float32)], 1
        )  # (B, Q, 4)
        query_embed = jnp.concatenate(
            [jnp.broadcast_to(det_query_embed, (bsz, *det_query_embed.shape)), track_query_embed], 1
        )  # (B, Q, 2C|C)
        query_mask = jnp.concatenate(
            [jnp.zeros((bsz, nd), bool), ~track_mask.astype(bool)], 1
        )  # (B, Q)

        outputs, init_reference, inter_references, inter_queries = self.transformer.decode(
            encoded, query_embed, ref_pts, query_mask, self.bbox_embed
        )

        logits, boxes = [], []
        for lvl in range(self.n_dec_layers):
            reference = init_reference if lvl == 0 else inter_references[lvl - 1]
            logits.append(self.class_embed[lvl](outputs[lvl]))
            boxes.append(
                jax.nn.sigmoid(self.bbox_embed[lvl](outputs[lvl]) + inverse_sigmoid(reference))
            )
        logits = jnp.stack(logits)  # (n_dec, B, Q, num_classes)
        boxes = jnp.stack(boxes)  # (n_dec, B, Q, 4)
        return {
            "pred_logits": logits[-1],
            "pred_boxes": boxes[-1],
            "aux_pred_logits": logits[:-1],
            "aux_pred_boxes": boxes[:-1],
            "outputs": outputs[-1],
            "aux_queries": inter_queries[1:],
            "aux_last_queries": inter_queries[-1],
            "last_ref_pts": inverse_sigmoid(inter_references[-2]),
            "init_ref_pts": inverse_sigmoid(init_reference),
            "query_mask": query_mask,
            "det_query_embed": query_embed[:, :nd],
        }

    def __call__(
        self,
        images: jax.Array,
        pad_mask: jax.Array,
        track_query_embed: jax.Array,
        track_ref_pts: jax.Array,
        track_mask: jax.Array,
    ) -> dict[str, jax.Array]:
        """Detects on one frame with K track slots (Q = n_det_queries + K queries).

        Args:
          images: (B, H, W, 3) float32, ImageNet-normalized.
          pad_mask: (B, H, W) bool, True = padding.
          track_query_embed: (B, K, track_query_dim).
          track_ref_pts: (B, K, 4) track references in logit (inverse-sigmoid) space.
          track_mask: (B, K) bool, True = live slot. Empty slots are masked as keys in the
            decoder self-attention; their own outputs are meaningless.

        Returns:
          pred_logits (B, Q, num_classes), pred_boxes (B, Q, 4) sigmoid cxcywh,
          aux_pred_logits (n_dec - 1, B, Q, num_classes), aux_pred_boxes (n_dec - 1, B, Q, 4),
          outputs (B, Q, C) final decoder state, aux_queries (n_dec - 1, B, Q, C) inputs of
          decoder layers 1.. (the official aux 'queries'), aux_last_queries (B, Q, C) input of the
          last decoder layer, last_ref_pts (B, Q, 4) logit references after layer n_dec - 2,
          init_ref_pts (B, Q, 4) logit initial references, query_mask (B, Q) True = empty slot,
          det_query_embed (B, n_det_queries, track_query_dim) the detection queries (new tracks
          start from them).
        """
        encoded = self.encode(images, pad_mask)
        return self.decode(encoded, track_query_embed, track_ref_pts, track_mask)
