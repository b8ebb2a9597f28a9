"""torch ``nn.LayerNorm`` (default eps 1e-5, exact two-pass variance) as a Flax module."""

from __future__ import annotations

import flax.linen as nn

from sambamotr_jax.nn.lean_backward import LayerNorm

TORCH_LAYER_NORM_EPS = 1e-5


def layer_norm(name: str, *, lean_backward: bool = False) -> nn.Module:
    """torch ``nn.LayerNorm`` over the last axis, parameters ``scale`` / ``bias``.

    ``lean_backward`` uses `lean_backward.LayerNorm` (same forward values, a backward pass that
    keeps less memory; the detector's layers over every encoder token); otherwise
    ``flax.linen.LayerNorm``.
    """
    if lean_backward:
        return LayerNorm(epsilon=TORCH_LAYER_NORM_EPS, name=name)
    return nn.LayerNorm(epsilon=TORCH_LAYER_NORM_EPS, use_fast_variance=False, name=name)
