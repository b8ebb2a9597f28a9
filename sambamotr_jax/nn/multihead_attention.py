"""torch ``nn.MultiheadAttention`` (batch first, with bias, no dropout) as a Flax module."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.nn.linear import XAVIER


class MultiheadAttention(nn.Module):
    """torch ``nn.MultiheadAttention`` with a key padding mask.

    Parameters as torch stores them: packed ``in_proj_weight`` (3E, E), rows [q; k; v] in
    (out, in) layout, ``in_proj_bias`` (3E,), and an ``out_proj`` Linear. As torch does, q is
    scaled by ``sqrt(1 / head_dim)`` before ``q k^T``.

    Masked keys get the lowest finite score (not -inf) and zero values: a row whose keys are all
    masked comes out finite (zeros) instead of NaN, and a row with one valid key is unchanged.
    """

    embed_dim: int = 256
    num_heads: int = 8
    precision: jax.lax.PrecisionLike = None  # of the projections and the attention products

    @nn.compact
    def __call__(
        self, query: jax.Array, key: jax.Array, value: jax.Array, key_padding_mask: jax.Array
    ) -> jax.Array:
        """query: (..., Q, E); key, value: (..., K, E); key_padding_mask: (..., K), True = ignored
        key (torch's convention) -> (..., Q, E)."""
        e, h = self.embed_dim, self.num_heads
        hd = e // h
        w = self.param("in_proj_weight", XAVIER, (3 * e, e))  # (3E, E), torch (out, in)
        b = self.param("in_proj_bias", nn.initializers.zeros, (3 * e,))

        def project(x: jax.Array, i: int) -> jax.Array:
            y = jnp.einsum("...ti,oi->...to", x, w[i * e : (i + 1) * e], precision=self.precision)
            y = y + b[i * e : (i + 1) * e]  # (..., T, E)
            return y.reshape(*y.shape[:-1], h, hd)  # (..., T, H, hd)

        q = project(query, 0) * math.sqrt(1.0 / hd)
        k = project(key, 1)
        v = project(value, 2)
        v = jnp.where(key_padding_mask[..., None, None], 0.0, v)  # (..., K, H, hd)
        scores = jnp.einsum("...qhd,...khd->...hqk", q, k, precision=self.precision)
        scores = jnp.where(
            key_padding_mask[..., None, None, :], jnp.finfo(scores.dtype).min, scores
        )  # (..., H, Q, K)
        weights = jax.nn.softmax(scores, axis=-1)
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v, precision=self.precision)
        out = out.reshape(*out.shape[:-2], e)  # (..., Q, H, hd) -> (..., Q, E)
        return nn.Dense(e, kernel_init=XAVIER, name="out_proj")(out)
