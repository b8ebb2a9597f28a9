"""The one dispatch point for multi-scale deformable attention."""

from __future__ import annotations

from typing import Literal

import jax

from kernels.ms_deform_attn.reference import SpatialShapes, ms_deform_attn_xla

Implementation = Literal["xla", "pallas"]


def ms_deform_attn(
    value: jax.Array,
    spatial_shapes: SpatialShapes,
    sampling_locations: jax.Array,
    attention_weights: jax.Array,
    *,
    implementation: Implementation | None = None,
) -> jax.Array:
    """Multi-scale deformable attention with the official op's semantics.

    Args:
      value: (N, S, M, D).
      spatial_shapes: static tuple of (H, W) per level.
      sampling_locations: (N, Q, M, L, P, 2) normalized (x, y).
      attention_weights: (N, Q, M, L, P).
      implementation: 'xla' (pure JAX) or 'pallas'; None picks the default for the backend.

    Returns:
      (N, Q, M * D).
    """
    spatial_shapes = tuple((int(h), int(w)) for h, w in spatial_shapes)
    if implementation not in (None, "xla"):
        raise ValueError(f"unknown ms_deform_attn implementation {implementation!r}")
    return ms_deform_attn_xla(value, spatial_shapes, sampling_locations, attention_weights)
