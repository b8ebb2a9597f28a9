"""Samba pieces: the selective-scan recurrence and the synchronization attention's head split."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sambamotr_jax.updaters import selective_scan
from sambamotr_jax.updaters.samba import (
    Samba,
    SambaConfig,
    SynchronizationAttention,
    head_split_indices,
)


def test_associative_scan_equals_step_recurrence():
    rng = np.random.default_rng(0)
    L, tracks, d, n = 9, 3, 5, 4
    u = rng.normal(size=(L, tracks, d)).astype(np.float32)
    delta = np.log1p(np.exp(rng.normal(size=(L, tracks, d)))).astype(np.float32)  # softplus
    A = -np.exp(rng.normal(size=(d, n))).astype(np.float32)
    B = rng.normal(size=(L, tracks, n)).astype(np.float32)
    C = rng.normal(size=(L, tracks, n)).astype(np.float32)
    D = rng.normal(size=(d,)).astype(np.float32)
    x0 = rng.normal(size=(tracks, d, n)).astype(np.float32)

    ys, states = jax.jit(selective_scan.selective_scan)(x0, u, delta, A, B, C, D)
    assert ys.shape == (L, tracks, d) and states.shape == (L, tracks, d, n)
    x = x0
    for t in range(L):
        y, x = selective_scan.selective_scan_step(x, u[t], delta[t], A, B[t], C[t], D)
        np.testing.assert_allclose(states[t], x, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ys[t], y, rtol=1e-5, atol=1e-5)


def test_selective_scan_step_by_hand():
    # d = n = 1: x = exp(delta*A) x + delta*B*u ; y = x*C + D*u.
    x, u, delta, A, B, C, D = 2.0, 3.0, 0.5, -2.0, 4.0, 5.0, 7.0
    y, x_new = selective_scan.selective_scan_step(
        jnp.full((1, 1), x),
        jnp.full((1,), u),
        jnp.full((1,), delta),
        jnp.full((1, 1), A),
        jnp.full((1,), B),
        jnp.full((1,), C),
        jnp.full((1,), D),
    )
    want_x = np.exp(-1.0) * 2.0 + 0.5 * 4.0 * 3.0
    np.testing.assert_allclose(x_new, [[want_x]], rtol=1e-6)
    np.testing.assert_allclose(y, [want_x * 5.0 + 21.0], rtol=1e-6)


def test_head_split_indices_by_hand():
    idx, valid = head_split_indices(2, capacity=3, num_heads=4)
    # Official view(heads, T, head_dim) of T=2 tokens: head h, position t reads chunk 2h + t.
    np.testing.assert_array_equal(idx, [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]])
    np.testing.assert_array_equal(valid, [[True, True, False]] * 4)
    idx, _ = head_split_indices(2, capacity=3, num_heads=4, official=False)
    np.testing.assert_array_equal(idx, [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]])


def _official_attention_numpy(params, query, key, value, num_heads, official=True):
    """Official attention.py forward on the T live tokens, NumPy with torch's view semantics."""
    B, T, E = query.shape
    hd = E // num_heads
    q = query @ params["q_proj_weight"].T + params["q_proj_bias"]
    k = key @ params["k_proj_weight"].T + params["k_proj_bias"]
    v = value @ params["v_proj_weight"].T + params["v_proj_bias"]
    if official:  # q.view(B, heads, T, head_dim): a row-major reinterpretation, no transpose
        q, k, v = (a.reshape(B, num_heads, T, hd) for a in (q, k, v))
    else:  # standard heads
        q, k, v = (a.reshape(B, T, num_heads, hd).transpose(0, 2, 1, 3) for a in (q, k, v))
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
    w = np.exp(s - s.max(-1, keepdims=True))
    w = w / w.sum(-1, keepdims=True)
    out = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, E)  # permute(0, 2, 1, 3).view(B, T, E)
    return out @ params["out_proj"]["kernel"] + params["out_proj"]["bias"]


@pytest.mark.parametrize("official", [True, False])
def test_sync_attention_matches_official_view_semantics(official):
    E, heads, K, batch = 16, 4, 8, 3
    attn = SynchronizationAttention(E, heads, official_head_split=official)
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=(batch, K, E)).astype(np.float32) for _ in range(3))
    params = jax.jit(attn.init)(jax.random.key(0), q, k, v, K)["params"]
    params = jax.tree_util.tree_map(lambda p: p + 0.1 * rng.normal(size=p.shape), params)
    params = jax.tree_util.tree_map(lambda p: np.asarray(p, np.float32), params)
    apply = jax.jit(lambda qq, kk, vv, t: attn.apply({"params": params}, qq, kk, vv, t))
    for T in (1, 3, 4, 5, K):  # T = 1, not divisible by heads, = heads, > heads, = capacity
        # Garbage (huge) padding must not reach live outputs.
        pad = np.arange(K)[None, :, None] >= T
        qp, kp, vp = (np.where(pad, 1e6, a).astype(np.float32) for a in (q, k, v))
        ours = np.asarray(apply(qp, kp, vp, T))
        want = _official_attention_numpy(params, q[:, :T], k[:, :T], v[:, :T], heads, official)
        np.testing.assert_allclose(ours[:, :T], want, rtol=1e-5, atol=1e-5)
        assert np.isfinite(ours).all()
    # The quirk is real: the two groupings differ for T > 1 and agree for T = 1.
    off = _official_attention_numpy(params, q[:, :5], k[:, :5], v[:, :5], heads, True)
    std = _official_attention_numpy(params, q[:, :5], k[:, :5], v[:, :5], heads, False)
    assert np.abs(off - std).max() > 1e-2
    off1 = _official_attention_numpy(params, q[:, :1], k[:, :1], v[:, :1], heads, True)
    std1 = _official_attention_numpy(params, q[:, :1], k[:, :1], v[:, :1], heads, False)
    np.testing.assert_allclose(off1, std1, rtol=1e-6)


def _tiny_samba_inputs(K, rng):
    return (
        rng.normal(size=(K, 32)).astype(np.float32),
        rng.normal(size=(K, 2, 64, 8)).astype(np.float32),
        rng.normal(size=(K, 2, 4, 64)).astype(np.float32),
        rng.normal(size=(K, 32)).astype(np.float32),
    )


def test_samba_padding_never_changes_live_outputs():
    model = Samba(SambaConfig(num_layers=2, d_model=32, d_state=8, num_heads=4, ffn_dim=16))
    rng = np.random.default_rng(2)
    T, K = 5, 9
    live_inputs = _tiny_samba_inputs(T, rng)
    variables = jax.jit(model.init, static_argnums=5)(jax.random.key(0), *live_inputs, T)
    padded = [
        np.concatenate([a, 1e3 * np.ones((K - T,) + a.shape[1:], a.dtype)]) for a in live_inputs
    ]
    apply = jax.jit(model.apply)
    small = apply(variables, *live_inputs, T)
    big = apply(variables, *padded, T)
    for s, b in zip(small, big, strict=True):
        assert b.shape[0] == K
        np.testing.assert_allclose(b[:T], s, rtol=1e-5, atol=1e-5)
        assert np.isfinite(np.asarray(b)).all()
    # Sanity: synchronization does couple live tracks (changing track 0 moves track 1).
    moved = [a.copy() for a in live_inputs]
    moved[1][0] += 1.0
    out_moved = apply(variables, *moved, T)
    assert np.abs(np.asarray(out_moved[0][1]) - np.asarray(small[0][1])).max() > 1e-4
