"""The blocked (CPU-fast) synchronization attention equals the unblocked one."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from sambamotr_jax.updaters import samba


def test_attend_in_blocks_matches_one_block_and_skips_padded_queries(monkeypatch):
    rng = np.random.default_rng(0)
    H, B, K, hd, T = 2, 3, 7, 4, 5
    q = jnp.asarray(rng.normal(size=(H, B, K, hd)), jnp.float32)
    k, v = (jnp.asarray(rng.normal(size=(H, B, hd, K)), jnp.float32) for _ in range(2))
    valid = jnp.arange(K) < T
    whole = samba._attend(q, k, v, valid)  # (H, B, hd, K)
    # Blocks of 2 queries (4 blocks, the last one padded).
    monkeypatch.setattr(samba, "_BLOCK_ELEMENTS", H * B * K * 2)
    monkeypatch.setattr(samba, "_SCORE_BLOCK_ELEMENTS", H * B * K * 2)
    blocked = jax.jit(samba.attend_in_blocks)(q, k, v, valid, T)
    np.testing.assert_allclose(blocked[..., :T], whole[..., :T], rtol=1e-6, atol=1e-6)
    # Block [4, 6) still holds a live query (4) and is computed; block [6, 8) is skipped.
    np.testing.assert_allclose(blocked[..., 5], whole[..., 5], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(blocked[..., 6], 0.0)
    # Softmax by hand for one (head, channel, query): masked keys get no weight.
    s = np.einsum("d,dk->k", np.asarray(q[1, 2, 3]), np.asarray(k[1, 2]))[:T]
    w = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
    np.testing.assert_allclose(whole[1, 2, :, 3], np.asarray(v[1, 2])[:, :T] @ w, rtol=1e-5)


def test_features_first_ffn_and_layer_norm_match_the_batch_last_ones(monkeypatch):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(5, 6, 8)), jnp.float32)  # (K, B, E)
    ffn = samba.FFN(8, 16)
    variables = ffn.init(jax.random.key(0), x)
    want = ffn.apply(variables, x)
    monkeypatch.setattr(samba, "_BLOCK_ELEMENTS", 16 * 6 * 2)  # blocks of 2 tracks
    ours = samba.FFN(8, 16, features_first=True).apply(variables, x.transpose(2, 0, 1))
    np.testing.assert_allclose(ours.transpose(1, 2, 0), want, rtol=1e-5, atol=1e-5)
