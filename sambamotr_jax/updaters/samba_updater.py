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

from sambamotr_jax.nn.boxes import inverse_sigmoid, pos_to_pos_embed
from sambamotr_jax.updaters.samba import FFN, Samba, dense, layer_norm


class MLP(nn.Module):
    """Official ``models/mlp.py``: Linear layers with ReLU between them (``layers_i``)."""

    input_dim: int
    hidden_dim: int
    output_dim: int
    num_layers: int
    zero_init_last: bool = False  # official bbox_embed heads start at zero

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dims_in = [self.input_dim] + [self.hidden_dim] * (self.num_layers - 1)
        dims_out = [self.hidden_dim] * (self.num_layers - 1) + [self.output_dim]
        for i, (d_in, d_out) in enumerate(zip(dims_in, dims_out, strict=True)):
            if self.zero_init_last and i == self.num_layers - 1:
                zeros = nn.initializers.zeros_init()
                x = nn.Dense(d_out, kernel_init=zeros, bias_init=zeros, name=f"layers_{i}")(x)
            else:
                x = dense(d_out, d_in, name=f"layers_{i}")(x)
            if i < self.num_layers - 1:
                x = nn.relu(x)
        return x


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

    hidden_dim: int = 256  # HIDDEN_DIM
    ffn_dim: int = 128  # SAMBA_FFN_DIM (sync FFN and query_feat_ffn)
    num_heads: int = 4  # SAMBA_NUM_HEADS
    state_dim: int = 16  # STATE_DIM
    expand: int = 2  # EXPAND
    num_layers: int = 4  # SAMBA_NUM_LAYERS
    num_attn_layers: int = 1  # SAMBA_NUM_ATTN_LAYERS
    conv_dim: int = 4  # CONV_DIM
    with_self_attn: bool = True  # WITH_SELF_ATTN (synchronization)
    with_self_attn_prior: bool = False  # WITH_SELF_ATTN_PRIOR
    with_conv: bool = True  # SAMBA_WITH_CONV
    inner_layernorms: bool = False  # SAMBA_WITH_INNER_LAYERNORMS
    with_input_layernorm: bool = True  # SAMBA_WITH_INPUT_LAYERNORM
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
    official_head_split: bool = True  # reproduce the official synchronization head split

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
          conv_history: (K, num_layers, conv_dim, d_inner) Samba conv histories.
          live: (K,) bool, True for slots 0..T-1.
          interval: frame interval (used only when fps_invariant).
          deterministic: False applies the training-time observation dropout (rng 'dropout').

        Returns:
          `UpdatedTracks` with the input shapes; padded slots are zeros.
        """
        c = self.hidden_dim
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
        output_pos = MLP(2 * c, c, c, 2, name="query_pos_head")(output_pos)  # (K, C)

        if self.with_masking:
            if not deterministic and self.dropout > 0.0:
                # Official BatchDropout: drop whole observations, no rescaling.
                keep = jax.random.uniform(self.make_rng("dropout"), live.shape) > self.dropout
                output_embed = output_embed * keep[:, None]
            output_embed = jnp.where(is_pos[:, None], output_embed, 0.0)
            output_pos = jnp.where(is_pos[:, None], output_pos, 0.0)

        rate = 1.0 / interval if self.fps_invariant else 1.0
        out, hidden_state, conv_history = Samba(
            num_layers=self.num_layers,
            d_model=c,
            d_state=self.state_dim,
            expand=self.expand,
            d_conv=self.conv_dim,
            with_self_attn=self.with_self_attn,
            with_self_attn_prior=self.with_self_attn_prior,
            num_attn_layers=self.num_attn_layers,
            num_heads=self.num_heads,
            ffn_dim=self.ffn_dim,
            with_conv=self.with_conv,
            inner_layernorms=self.inner_layernorms,
            with_input_layernorm=self.with_input_layernorm,
            official_head_split=self.official_head_split,
            name="sequence_model",
        )(output_embed, hidden_state, conv_history, output_pos, num_live, rate)

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
            new_tgt = FFN(c, self.ffn_dim, name="query_feat_ffn")(out)
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
            delta = MLP(c, c, 4, 3, zero_init_last=True, name="bbox_embed")(out)  # (K, 4)
            ref_pts = jnp.where(update, ref_pts + delta, ref_pts)

        return UpdatedTracks(*map(clean, (query_embed, ref_pts, hidden_state, conv_history)))
