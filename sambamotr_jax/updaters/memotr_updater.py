"""MeMOTR's query updater (official MeMOTR ``models/query_updater.py``, inference update).

Per frame, for the active tracks (previous tracks first, then the newborn ones; see
MEMOTR_SEMANTICS.md):

1. ``is_pos = max_c sigmoid(logits) > update_threshold`` (strict), the only mask;
2. positive tracks take ``ref_pts = inverse_sigmoid(box)``;
3. ``query_pos = query_pos_head(pos_to_pos_embed(sigmoid(ref_pts)))``;
4. confidence gate ``w = sigmoid(MLP(out))`` and short memory ``MLP(cat(w * out, last_output))``;
5. memory attention over all live tracks: Q = short + pos, K = long_memory + pos, V = out;
6. ``tgt = memory_ffn(memory_norm(out + attn))``;
   ``query_feat = query_feat_ffn(query_feat_norm(long_memory + tgt))``;
7. positive tracks only: long-memory EMA, ``last_output = out``, query written back (Deformable
   DETR also refreshes the position half with ``norm_pos(pos + linear_pos2(relu(linear_pos1(out))))``).
   Non-positive tracks keep every field exactly.

Capacity convention as in `query_updater.py`: K slots, live tracks in slots 0..T-1 (any live mask
works here: the attention is permutation-equivariant), padded slots excluded as keys and returned
as zeros. Intermediates are sown into the ``'intermediates'`` collection under the fixture names.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.nn.box_ops import inverse_sigmoid, pos_to_pos_embed
from sambamotr_jax.nn.linear import HIGHEST, MLP, XAVIER, dense
from sambamotr_jax.nn.multihead_attention import MultiheadAttention
from sambamotr_jax.nn.normalization import layer_norm
from sambamotr_jax.updaters.samba import FFN


class MemotrTracks(NamedTuple):
    """What the MeMOTR updater writes back (same shapes as its inputs)."""

    query_embed: jax.Array  # (K, C) DAB / (K, 2C) [pos | feat]
    ref_pts: jax.Array  # (K, 4) inverse-sigmoid
    last_output: jax.Array  # (K, C)
    long_memory: jax.Array  # (K, C)


class MemotrQueryUpdater(nn.Module):
    """Official MeMOTR ``QueryUpdater`` (DanceTrack configs; dropout 0)."""

    hidden_dim: int = 256  # HIDDEN_DIM
    ffn_dim: int = 2048  # FFN_DIM (2048 DAB, 1024 Deformable-DETR)
    num_heads: int = 8  # memory attention heads (hard-coded officially)
    use_dab: bool = True  # USE_DAB
    update_threshold: float = 0.5  # UPDATE_THRESH
    long_memory_lambda: float = 0.01  # LONG_MEMORY_LAMBDA

    @nn.compact
    def __call__(
        self,
        query_embed: jax.Array,
        ref_pts: jax.Array,
        output_embed: jax.Array,
        boxes: jax.Array,
        logits: jax.Array,
        last_output: jax.Array,
        long_memory: jax.Array,
        live: jax.Array,
    ) -> MemotrTracks:
        """Updates the K track slots for the next frame.

        Args:
          query_embed: (K, C) DAB / (K, 2C) [pos | feat] Deformable-DETR.
          ref_pts: (K, 4) inverse-sigmoid cxcywh.
          output_embed: (K, C) final decoder output this frame.
          boxes: (K, 4) sigmoid cxcywh this frame; logits: (K, num_classes).
          last_output: (K, C) output of the last positive frame (new tracks: output_embed).
          long_memory: (K, C) long-term memory (new tracks: their aux query feature).
          live: (K,) bool.

        Returns:
          `MemotrTracks`; non-positive live slots unchanged, padded slots zeros.
        """
        c = self.hidden_dim
        live = live.astype(bool)

        def clean(x: jax.Array) -> jax.Array:
            return jnp.where(live.reshape((-1,) + (1,) * (x.ndim - 1)), x, jnp.zeros_like(x))

        query_embed, ref_pts, output_embed, boxes, logits, last_output, long_memory = map(
            clean, (query_embed, ref_pts, output_embed, boxes, logits, last_output, long_memory)
        )
        is_pos = (jnp.max(jax.nn.sigmoid(logits), axis=-1) > self.update_threshold) & live
        pos = is_pos[:, None]  # (K, 1)

        ref_pts = jnp.where(pos, inverse_sigmoid(jax.lax.stop_gradient(boxes)), ref_pts)
        query_pos = pos_to_pos_embed(jax.nn.sigmoid(ref_pts), num_pos_feats=c // 2)  # (K, 2C)
        memory = jax.lax.stop_gradient(long_memory)

        weight = jax.nn.sigmoid(
            MLP(c, c, 2, kernel_init=XAVIER, torch_bias=True, name="confidence_weight_net_0")(
                output_embed
            )
        )
        short = MLP(2 * c, c, 2, kernel_init=XAVIER, torch_bias=True, name="short_memory_fusion")(
            jnp.concatenate([weight * output_embed, last_output], axis=-1)  # (K, 2C)
        )
        query_pos = MLP(c, c, 2, kernel_init=XAVIER, torch_bias=True, name="query_pos_head")(
            query_pos
        )  # (K, C)
        attn = MultiheadAttention(c, self.num_heads, HIGHEST, name="memory_attn")(
            short + query_pos, memory + query_pos, output_embed, ~live
        )  # (K, C)
        memory_norm_out = layer_norm("memory_norm")(output_embed + attn)
        tgt = FFN(c, self.ffn_dim, name="memory_ffn")(memory_norm_out)
        query_feat_norm_out = layer_norm("query_feat_norm")(memory + tgt)
        query_feat = FFN(c, self.ffn_dim, name="query_feat_ffn")(query_feat_norm_out)
        for name, value in (
            ("confidence_weight", weight),
            ("short_memory", short),
            ("query_pos", query_pos),
            ("attn_out", attn),
            ("memory_norm_out", memory_norm_out),
            ("memory_ffn_out", tgt),
            ("query_feat_norm_out", query_feat_norm_out),
            ("query_feat", query_feat),
        ):
            self.sow("intermediates", name, value)

        lam = self.long_memory_lambda
        new_memory = (1 - lam) * memory + lam * output_embed
        long_memory = jnp.where(pos, new_memory, long_memory)
        last_output = jnp.where(pos, output_embed, last_output)

        if self.use_dab:
            query_embed = jnp.where(pos, query_feat, query_embed)
        else:
            old_pos = query_embed[:, :c]  # (K, C)
            delta = dense(c, c, name="linear_pos2")(
                nn.relu(dense(c, c, name="linear_pos1")(output_embed))
            )
            new_pos = layer_norm("norm_pos")(old_pos + delta)
            self.sow("intermediates", "new_query_pos_delta", delta)
            self.sow("intermediates", "norm_pos_out", new_pos)
            query_embed = jnp.concatenate(
                [jnp.where(pos, new_pos, old_pos), jnp.where(pos, query_feat, query_embed[:, c:])],
                axis=-1,
            )  # (K, 2C)
        return MemotrTracks(*map(clean, (query_embed, ref_pts, last_output, long_memory)))
