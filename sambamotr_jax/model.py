"""SambaMOTR / MeMOTR: a detector and a query updater over one parameter tree.

`build_model(config.model)` is the one place where the config becomes module arguments.
Variables: ``{'params': {'detector': ..., 'query_updater': ...}, 'buffers': {'detector': ...}}``
(frozen-BatchNorm statistics in `buffers`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.detector.deformable_detr import Detector
from sambamotr_jax.updaters.memotr_updater import MemotrQueryUpdater
from sambamotr_jax.updaters.samba import SambaConfig
from sambamotr_jax.updaters.samba_updater import QueryUpdater

# Detector outputs whose leading axis is the decoder layer (batch second); the others are batch-major.
LAYER_MAJOR_OUTPUTS = ("aux_pred_logits", "aux_pred_boxes", "aux_queries")


def cast_floats(tree, dtype):
    """`tree` with its floating-point leaves in `dtype` (integer and bool leaves as they are)."""
    return jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree
    )


def detector_variables(variables: dict, dtype) -> dict:
    """`variables` with the detector's floats (its parameters and frozen-BatchNorm buffers) in
    the compute `dtype`; the query updater's parameters stay as they are (float32). The same
    dict back for float32, so a float32 run computes exactly what it computes without a cast.
    """
    if jnp.dtype(dtype) == jnp.float32:
        return variables
    params = variables["params"]
    return {
        **variables,
        "params": {**params, "detector": cast_floats(params["detector"], dtype)},
        "buffers": cast_floats(variables["buffers"], dtype),
    }


def select_batch(out: dict, b: int) -> dict:
    """Detector outputs of batch element `b` (drops the batch axis of every output)."""
    return {k: (v[:, b] if k in LAYER_MAJOR_OUTPUTS else v[b]) for k, v in out.items()}


class TrackingModel(nn.Module):
    """The composed tracker: detector + query updater (Samba: SambaMOTR; MeMOTR's: MeMOTR).

    Methods used by the tracker and the trainer (through `model.apply(..., method=...)`):
    `detect` (= `decode` after `encode`), `new_track_queries`, `update_queries`; `__call__` runs
    all three (for init).
    """

    detector: Detector
    query_updater: nn.Module

    @property
    def query_dim(self) -> int:
        """Width of a track query: 2 * hidden (Deformable-DETR: [pos | tgt]) or hidden (DAB)."""
        return self.detector.track_query_dim

    @property
    def is_memotr(self) -> bool:
        return isinstance(self.query_updater, MemotrQueryUpdater)

    def updater_state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-track shapes of the query updater's own state arrays (without the K axis)."""
        u = self.query_updater
        if self.is_memotr:
            return {"last_output": (u.hidden_dim,), "long_memory": (u.hidden_dim,)}
        s = u.samba
        return {
            "hidden_state": (s.num_layers, s.d_inner, s.d_state),
            "conv_history": (s.num_layers, s.d_conv, s.d_inner),
        }

    def detect(self, images, pad_mask, track_query_embed, track_ref_pts, track_mask):
        """The detector on one frame; see `Detector.__call__` (B, K leading axes)."""
        return self.detector(images, pad_mask, track_query_embed, track_ref_pts, track_mask)

    def encode(self, images, pad_mask):
        """The query-independent part of `detect` (backbone + encoder): `Detector.encode`."""
        return self.detector.encode(images, pad_mask)

    def decode(self, encoded, track_query_embed, track_ref_pts, track_mask):
        """The rest of `detect` on `encode`'s output: `Detector.decode`."""
        return self.detector.decode(encoded, track_query_embed, track_ref_pts, track_mask)

    def new_track_queries(self, out: dict) -> tuple[jax.Array, jax.Array, dict]:
        """Query, reference and updater state of a track born from each detection query
        (official RuntimeTracker + the updater's `select_active_tracks`).

        Args:
          out: detector outputs of one frame without the batch axis (Q = Nd + K rows).

        Returns:
          query_embed (Nd, query_dim): Deformable-DETR: [det_query_embed[:, :C] | input of the
          last decoder layer]; DAB: the input of the last decoder layer.
          ref_pts (Nd, 4): `last_ref_pts` (references after decoder layer n_dec - 2).
          updater state (Nd, ...): Samba: zeros; MeMOTR: `last_output` = the final decoder
          output, `long_memory` = the input of the last decoder layer.
        """
        nd = self.detector.n_det_queries
        c = self.detector.hidden_dim
        last_queries = out["aux_last_queries"][:nd]  # (Nd, C)
        if self.detector.use_dab:
            query = last_queries
        else:
            det_query_embed = self.detector.variables["params"]["det_query_embed"]  # (Nd, 2C)
            query = jnp.concatenate([det_query_embed[:, :c], last_queries], -1)  # (Nd, 2C)
        if self.is_memotr:
            state = {"last_output": out["outputs"][:nd], "long_memory": last_queries}
        else:
            state = {
                n: jnp.zeros((nd, *s), jnp.float32) for n, s in self.updater_state_shapes().items()
            }
        return query, out["last_ref_pts"][:nd], state

    def update_queries(
        self,
        query_embed,
        ref_pts,
        output_embed,
        boxes,
        logits,
        updater_state,
        live,
        deterministic: bool = True,
    ):
        """Next frame's track queries from this frame's outputs, over K slots.

        `deterministic=False` (training) enables Samba's observation dropout (SAMBA_DROPOUT, rng
        'dropout'); MeMOTR has no training-only behaviour.

        Returns:
          (query_embed (K, Dq), ref_pts (K, 4), updater_state dict of (K, ...) arrays).
        """
        extra = {} if self.is_memotr or deterministic else {"deterministic": False}
        updated = self.query_updater(
            query_embed, ref_pts, output_embed, boxes, logits, live=live, **updater_state, **extra
        )
        state = {name: getattr(updated, name) for name in updater_state}
        return updated.query_embed, updated.ref_pts, state

    def __call__(self, images, pad_mask, track_query_embed, track_ref_pts, track_mask):
        out = self.detect(images, pad_mask, track_query_embed, track_ref_pts, track_mask)
        single = select_batch(out, 0)
        query, ref, _ = self.new_track_queries(single)
        k = track_query_embed.shape[1]
        state = {n: jnp.zeros((k, *s), jnp.float32) for n, s in self.updater_state_shapes().items()}
        nd = self.detector.n_det_queries
        return (
            out,
            self.update_queries(
                track_query_embed[0],
                track_ref_pts[0],
                single["outputs"][nd:],
                single["pred_boxes"][nd:],
                single["pred_logits"][nd:],
                state,
                track_mask[0],
            ),
            (query, ref),
        )


def build_model(m) -> TrackingModel:
    """`config.model` -> `TrackingModel` (the one place config becomes module arguments)."""
    ffn_dim = m.ffn_dim or (2048 if m.use_dab else 1024)
    impl = m.ms_deform_attn_impl or None
    detector = Detector(
        num_classes=m.num_classes,
        backbone_name=m.backbone,
        hidden_dim=m.hidden_dim,
        ffn_dim=ffn_dim,
        n_heads=m.num_heads,
        n_feature_levels=m.num_feature_levels,
        n_enc_points=m.enc_points,
        n_dec_points=m.dec_points,
        n_enc_layers=m.enc_layers,
        n_dec_layers=m.dec_layers,
        n_det_queries=m.num_det_queries,
        use_dab=m.use_dab,
        implementation=impl,
        recompute_ffn=m.recompute_ffn,
        recompute_encoder=m.recompute_encoder,
    )
    if m.query_updater == "memotr":
        updater = MemotrQueryUpdater(
            hidden_dim=m.hidden_dim,
            ffn_dim=ffn_dim,
            use_dab=m.use_dab,
            update_threshold=m.update_thresh,
            long_memory_lambda=m.long_memory_lambda,
        )
        return TrackingModel(detector=detector, query_updater=updater)
    if m.query_updater != "samba":
        raise ValueError(
            f"config.model.query_updater={m.query_updater!r}: expected 'samba' or 'memotr'"
        )
    s = m.samba
    samba = SambaConfig(
        d_model=m.hidden_dim,
        num_layers=s.num_layers,
        d_state=s.state_dim,
        expand=s.expand,
        d_conv=s.conv_dim,
        num_heads=s.num_heads,
        ffn_dim=s.ffn_dim,
        with_self_attn=s.with_self_attn,
        official_head_split=not s.standard_heads,
    )
    updater = QueryUpdater(
        samba=samba,
        use_dab=m.use_dab,
        update_threshold=m.update_thresh,
        with_masking=s.masking,
        with_residual=s.residual,
        dropout=s.get("dropout", 0.0),  # SAMBA_DROPOUT (training only)
    )
    return TrackingModel(detector=detector, query_updater=updater)


def init_variables(
    model: TrackingModel, rng: jax.Array, *, image_size: int = 64, capacity: int = 2
):
    """Fresh variables (parameter shapes do not depend on the dummy image size or capacity)."""
    images = jnp.zeros((1, image_size, image_size, 3), jnp.float32)
    pad_mask = jnp.zeros((1, image_size, image_size), bool)
    tq = jnp.zeros((1, capacity, model.query_dim), jnp.float32)
    tr = jnp.zeros((1, capacity, 4), jnp.float32)
    tm = jnp.zeros((1, capacity), bool)
    return model.init(rng, images, pad_mask, tq, tr, tm)
