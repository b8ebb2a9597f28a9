"""The Samba path of the official ``UnifiedQueryUpdater.update_tracks_embedding``.

After the tracker has chosen the active tracks of a frame (previous tracks first in their order,
then the newborn ones in detection-query order), the updater turns each track's final decoder
output into next frame's query (official ``models/query_updater.py``):

1. ``is_pos = score > update_threshold`` (strict), score = max over classes of sigmoid(logits);
2. positive tracks take ``ref_pts = inverse_sigmoid(box)``; the others keep theirs;
3. ``pos = query_pos_head(pos_to_pos_embed(sigmoid(ref_pts)))``;
4. with masking, non-positive tracks get a zero observation and a zero position;
5. Samba runs on all tracks (masked ones update their hidden state and conv history too);
6. target half: ``norm_emb(tgt + query_feat_ffn(out))`` (residual) or ``out``;
7. (not DAB) position half: ``norm_pos(pos + linear_pos2(relu(linear_pos1(out))))``;
   both written for every track with score >= 0 (all of them) unless ``update_only_pos``.

Capacity convention: K slots, live tracks in slots 0..T-1, ``live`` (K,) bool. Shapes never
depend on T; padded slots cannot change live outputs and come out as zeros.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.nn.box_ops import inverse_sigmoid, pos_to_pos_embed
from sambamotr_jax.nn.linear import MLP, XAVIER, dense
from sambamotr_jax.nn.normalization import layer_norm
from sambamotr_jax.updaters.samba import FFN, Samba, SambaConfig


class UpdatedTracks(NamedTuple):
    """What the updater writes back to the tracks (same shapes as its inputs)."""

    query_embed: jax.Array  # (K, 2C) [pos | tgt], or (K, C) with DAB
    ref_pts: jax.Array  # (K, 4) inverse-sigmoid space
    hidden_state: jax.Array  # (K, num_layers, d_inner, d_state)
    conv_history: jax.Array  # (K, num_layers, d_conv, d_inner)


class QueryUpdater(nn.Module):
    """Official ``UnifiedQueryUpdater`` with ``sequence_model='samba'`` (inference update).

    Batch-free over K track slots (vmap the apply for a batch of sequences). Defaults are the
    DanceTrack ``def_detr/train_residual_masking_sync_longer.yaml`` configuration.
    """

    samba: SambaConfig = SambaConfig()  # the sequence model; its d_model is HIDDEN_DIM and its
    # ffn_dim (SAMBA_FFN_DIM) also sizes query_feat_ffn
    fps_invariant: bool = False  # FPS_INVARIANT: delta divided by rate = 1 / interval
    dropout: float = 0.0  # SAMBA_DROPOUT: whole-observation dropout (training only)
    use_dab: bool = False  # USE_DAB
    update_threshold: float = 0.5  # UPDATE_THRESH
    with_masking: bool = True  # MASKING
    with_residual: bool = True  # RESIDUAL
    with_residual_scale: bool = False  # RESIDUAL_SCALE
    with_detach: bool = False  # DETACH (stop gradient into the previous query)
    with_ref_pts_residual: bool = False  # REF_PTS_RESIDUAL
    update_only_pos: bool = False  # UPDATE_ONLY_POS

    @nn.compact
    def __call__(
        self,
        query_embed: jax.Array,
        ref_pts: jax.Array,
        output_embed: jax.Array,
        boxes: jax.Array,
        logits: jax.Array,
        hidden_state: jax.Array,
        conv_history: jax.Array,
        live: jax.Array,
        interval: int | jax.Array = 1,
        deterministic: bool = True,
    ) -> UpdatedTracks:
        """Updates the K track slots for the next frame.

        Args:
          query_embed: (K, 2C) [pos | tgt] (DAB: (K, C)), the query the track was decoded with.
          ref_pts: (K, 4) its reference points (inverse-sigmoid cxcywh).
          output_embed: (K, C) its final decoder output this frame.
          boxes: (K, 4) its predicted box this frame (sigmoid cxcywh).
          logits: (K, num_classes) its class logits this frame.
          hidden_state: (K, num_layers, d_inner, d_state) Samba SSM states.
          conv_history: (K, num_layers, d_conv, d_inner) Samba conv histories.
          live: (K,) bool, True for slots 0..T-1.
          interval: frame interval (used only when fps_invariant).
          deterministic: False applies the training-time observation dropout (rng 'dropout').

        Returns:
          `UpdatedTracks` with the input shapes; padded slots are zeros.
        """
        c = self.samba.d_model
        live = live.astype(bool)
        num_live = jnp.sum(live, dtype=jnp.int32)

        def clean(x: jax.Array) -> jax.Array:  # padded slots never carry garbage
            return jnp.where(live.reshape((-1,) + (1,) * (x.ndim - 1)), x, jnp.zeros_like(x))

        query_embed, ref_pts, output_embed, boxes, logits, hidden_state, conv_history = map(
            clean, (query_embed, ref_pts, output_embed, boxes, logits, hidden_state, conv_history)
        )

        scores = jnp.max(jax.nn.sigmoid(logits), axis=-1)  # (K,)
        is_pos = scores > self.update_threshold
        ref_pts = jnp.where(
            is_pos[:, None], inverse_sigmoid(jax.lax.stop_gradient(boxes)), ref_pts
        )  # (K, 4)
        output_pos = pos_to_pos_embed(jax.nn.sigmoid(ref_pts), num_pos_feats=c // 2)  # (K, 2C)
        output_pos = MLP(c, c, 2, kernel_init=XAVIER, torch_bias=True, name="query_pos_head")(
            output_pos
        )  # (K, C)

        if self.with_masking:
            if not deterministic and self.dropout > 0.0:
                # Official BatchDropout: drop whole observations, no rescaling.
                keep = jax.random.uniform(self.make_rng("dropout"), live.shape) > self.dropout
                output_embed = output_embed * keep[:, None]
            output_embed = jnp.where(is_pos[:, None], output_embed, 0.0)
            output_pos = jnp.where(is_pos[:, None], output_pos, 0.0)

        rate = 1.0 / interval if self.fps_invariant else 1.0
        out, hidden_state, conv_history = Samba(self.samba, name="sequence_model")(
            output_embed, hidden_state, conv_history, output_pos, num_live, rate
        )

        # The official code updates every track with score >= 0 (all), "since Samba takes care of
        # masked observations from context"; update_only_pos restricts it to positive tracks.
        update = is_pos if self.update_only_pos else scores >= 0.0
        update = update[:, None]
        detach = jax.lax.stop_gradient if self.with_detach else (lambda x: x)

        def residual_scale(name: str) -> jax.Array | float:
            if not self.with_residual_scale:
                return 1.0
            return jnp.exp(self.param(name, nn.initializers.ones_init(), ()))

        tgt = query_embed if self.use_dab else query_embed[:, c:]  # (K, C)
        if self.with_residual:
            new_tgt = FFN(c, self.samba.ffn_dim, name="query_feat_ffn")(out)
            new_tgt = detach(tgt) + residual_scale("residual_scale") * new_tgt
            new_tgt = layer_norm("norm_emb")(new_tgt)
        else:
            new_tgt = out
        tgt = jnp.where(update, new_tgt, tgt)
        if self.use_dab:
            query_embed = tgt
        else:
            pos = query_embed[:, :c]  # (K, C)
            new_pos = dense(c, c, name="linear_pos2")(nn.relu(dense(c, c, name="linear_pos1")(out)))
            new_pos = detach(pos) + residual_scale("residual_scale_pos") * new_pos
            new_pos = layer_norm("norm_pos")(new_pos)
            pos = jnp.where(update, new_pos, pos)
            query_embed = jnp.concatenate([pos, tgt], axis=-1)  # (K, 2C)

        if self.with_ref_pts_residual:
            zeros = nn.initializers.zeros_init()
            bbox_embed = MLP(
                c,
                4,
                3,
                kernel_init=XAVIER,
                torch_bias=True,
                last_kernel_init=zeros,  # official box heads start at zero
                last_bias_init=zeros,
                name="bbox_embed",
            )
            delta = bbox_embed(out)  # (K, 4)
            ref_pts = jnp.where(update, ref_pts + delta, ref_pts)

        return UpdatedTracks(*map(clean, (query_embed, ref_pts, hidden_state, conv_history)))
