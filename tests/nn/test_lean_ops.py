"""lean_ops: the plain formulas' values and gradients, with fewer saved residuals."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax._src.ad_checkpoint import saved_residuals

from sambamotr_jax.detector.deformable_decoder import DeformableDecoderLayer
from sambamotr_jax.detector.deformable_encoder import (
    DeformableEncoderLayer,
    encoder_reference_points,
)
from sambamotr_jax.nn import lean_backward


def _residual_shapes(f, *args) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of what the backward pass of `f` keeps, arguments and constants excluded."""
    return sorted(
        (tuple(a.shape), str(a.dtype))
        for a, source in saved_residuals(f, *args)
        if not source.startswith(("from the argument", "from a constant"))
    )


SHAPES = ((4, 6), (2, 3))  # two feature levels, S = 30 tokens
TOKENS = sum(h * w for h, w in SHAPES)


def _encoder_inputs(key, c, levels=2):
    """src, pos (1, S, C), reference points, a padding mask on the last two tokens, a key left."""
    k = jax.random.split(key, 3)
    src = jax.random.normal(k[0], (1, TOKENS, c))
    pos = jax.random.normal(k[1], (1, TOKENS, c))
    ref = encoder_reference_points(SHAPES, jnp.ones((1, levels, 2)))
    mask = jnp.zeros((1, TOKENS), bool).at[0, -2:].set(True)
    return src, pos, ref, mask, k[2]


def _assert_same_value_and_grads(plain, lean, rtol, atol):
    """`jax.value_and_grad` results of a plain and a recomputing layer."""
    (l0, g0), (l1, g1) = plain, lean
    assert l0 == l1
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)


def _perturbed_ln_params(x):
    v = nn.LayerNorm().init(jax.random.key(1), x)
    return jax.tree.map(lambda a: a + 0.3 * jax.random.normal(jax.random.key(2), a.shape), v)


def test_layer_norm_equals_flax_and_keeps_input_and_row_stats():
    x = 3.0 * jax.random.normal(jax.random.key(0), (2, 5, 32)) + 1.0
    v = _perturbed_ln_params(x)
    ref = nn.LayerNorm(epsilon=1e-5, use_fast_variance=False)
    ours = lean_backward.LayerNorm(epsilon=1e-5)
    np.testing.assert_array_equal(ours.apply(v, x), ref.apply(v, x))  # same operations

    def loss(module):
        return lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)))

    g_ref = jax.grad(loss(ref), argnums=(0, 1))(v, x)
    g_ours = jax.grad(loss(ours), argnums=(0, 1))(v, x)
    for a, b in zip(jax.tree.leaves(g_ref), jax.tree.leaves(g_ours)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    # the input and two (2, 5) row statistics; flax keeps four (2, 5, 32) arrays
    kept = _residual_shapes(lambda x: loss(ours)(v, x), x)
    assert [s for s, _ in kept if s == (2, 5, 32)] == [(2, 5, 32)]
    assert len(_residual_shapes(lambda x: loss(ref)(v, x), x)) > len(kept)


def test_layer_norm_bfloat16_matches_flax():
    x = jax.random.normal(jax.random.key(0), (4, 16)).astype(jnp.bfloat16)
    v = jax.tree.map(lambda a: a.astype(jnp.bfloat16), _perturbed_ln_params(x))
    ref = nn.LayerNorm(epsilon=1e-5, use_fast_variance=False).apply(v, x)
    ours = lean_backward.LayerNorm(epsilon=1e-5).apply(v, x)
    assert ours.dtype == ref.dtype == jnp.bfloat16
    np.testing.assert_array_equal(ours, ref)


def test_relu_gradient_reads_the_output_only():
    x = jnp.array([-2.0, -0.0, 0.0, 1e-30, 3.0])
    np.testing.assert_array_equal(lean_backward.relu(x), jax.nn.relu(x))
    np.testing.assert_array_equal(
        jax.grad(lambda x: jnp.sum(lean_backward.relu(x) * jnp.arange(5.0)))(x),
        jax.grad(lambda x: jnp.sum(jax.nn.relu(x) * jnp.arange(5.0)))(x),
    )
    w = jnp.ones((5, 3))
    kept = _residual_shapes(lambda x: jnp.sum(lean_backward.relu(x) @ w), x)
    assert kept == [((5,), "float32")]  # the output, which the matmul needs anyway


@pytest.mark.parametrize("axis", [-1, (-2, -1)])
def test_softmax_equals_jax(axis):
    x = jax.random.normal(jax.random.key(0), (3, 4, 5))
    t = jax.random.normal(jax.random.key(1), (3, 4, 5))
    np.testing.assert_array_equal(lean_backward.softmax(x, axis), jax.nn.softmax(x, axis=axis))
    g = jax.grad(lambda x: jnp.sum(lean_backward.softmax(x, axis) * t))(x)
    g_ref = jax.grad(lambda x: jnp.sum(jax.nn.softmax(x, axis=axis) * t))(x)
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-7)
    kept = _residual_shapes(lambda x: jnp.sum(lean_backward.softmax(x, axis) * t), x)
    assert kept == [((3, 4, 5), "float32")]


def test_zero_rows_keeps_only_the_row_mask():
    x = jax.random.normal(jax.random.key(0), (2, 3, 4, 5))
    mask = jnp.array([[True, False, False], [False, False, True]])
    out = lean_backward.zero_rows(x, mask)
    np.testing.assert_array_equal(out, jnp.where(mask[..., None, None], 0.0, x))
    g = jax.grad(lambda x: jnp.sum(lean_backward.zero_rows(x, mask) * x))(x)
    np.testing.assert_array_equal(g, jnp.where(mask[..., None, None], 0.0, 2 * x))
    # the (2, 3) mask is an argument; jnp.where would keep it broadcast to (2, 3, 4, 5)
    kept = _residual_shapes(lambda x, m: jnp.sum(lean_backward.zero_rows(x, m) ** 2), x, mask)
    assert kept == [((2, 3, 4, 5), "float32")]  # what the square keeps
    plain = _residual_shapes(
        lambda x, m: jnp.sum(jnp.where(m[..., None, None], 0.0, x) ** 2), x, mask
    )
    assert ((2, 3, 4, 5), "bool") in plain


def test_encoder_layer_recompute_ffn_same_gradients_without_hidden_residuals():
    c, ffn = 16, 64
    src, pos, ref, mask, init_key = _encoder_inputs(jax.random.key(0), c)
    layers = [
        DeformableEncoderLayer(c, ffn, 2, 2, 2, "xla", recompute, name="layer")
        for recompute in (False, True)
    ]
    params = layers[0].init(init_key, src, pos, ref, SHAPES, mask)["params"]

    def loss(layer):
        return lambda p: jnp.sum(jnp.sin(layer.apply({"params": p}, src, pos, ref, SHAPES, mask)))

    _assert_same_value_and_grads(
        *(jax.value_and_grad(loss(layer))(params) for layer in layers), rtol=1e-6, atol=1e-7
    )
    hidden = (1, TOKENS, ffn)
    assert hidden in [shape for shape, _ in _residual_shapes(loss(layers[0]), params)]
    assert hidden not in [shape for shape, _ in _residual_shapes(loss(layers[1]), params)]


def test_encoder_layer_recompute_keeps_only_the_attention_tensors():
    s, shapes = TOKENS, SHAPES
    c, ffn, heads, levels, points = 16, 64, 2, 2, 2
    src, pos, ref, mask, init_key = _encoder_inputs(jax.random.key(3), c, levels)

    def layer(recompute_ffn, recompute):
        return DeformableEncoderLayer(
            c, ffn, levels, heads, points, "xla", recompute_ffn, recompute, name="layer"
        )

    plain, lean = layer(False, False), layer(True, True)
    params = plain.init(init_key, src, pos, ref, shapes, mask)["params"]
    # the lifted transform leaves the parameter tree as it is
    lean_params = lean.init(init_key, src, pos, ref, shapes, mask)["params"]
    assert jax.tree.structure(lean_params) == jax.tree.structure(params)
    # non-zero sampling offsets and attention logits, so that their gradients mean something
    params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(4), a.shape), params)

    cotangent = jax.random.normal(jax.random.key(5), (1, s, c))  # a linear loss keeps nothing

    def loss(module):
        return lambda p: jnp.vdot(
            cotangent, module.apply({"params": p}, src, pos, ref, shapes, mask)
        )

    _assert_same_value_and_grads(
        *(jax.value_and_grad(loss(m))(params) for m in (plain, lean)), rtol=1e-5, atol=1e-6
    )

    def per_token(module):
        return sorted(s_ for s_, _ in _residual_shapes(loss(module), params) if s_[:2] == (1, s))

    d = c // heads
    assert per_token(lean) == sorted(
        [
            (1, s, heads, d),  # value
            (1, s, heads, levels, points, 2),  # sampling locations
            (1, s, heads, levels, points),  # attention weights
            (1, s, c),  # attention output, before output_proj
        ]
    )
    # without it: src + pos, both LayerNorm inputs and outputs, the FFN hidden activations ...
    assert len(per_token(plain)) >= len(per_token(lean)) + 5


def test_decoder_layer_recompute_value_same_gradients_without_the_value():
    s, shapes = TOKENS, SHAPES
    c, heads, levels, points, q = 16, 2, 2, 2, 5
    k = jax.random.split(jax.random.key(6), 5)
    tgt = jax.random.normal(k[0], (1, q, c))
    query_pos = jax.random.normal(k[1], (1, q, c))
    ref = jax.random.uniform(k[2], (1, q, levels, 2))
    memory = jax.random.normal(k[3], (1, s, c))
    query_mask = jnp.zeros((1, q), bool)
    src_mask = jnp.zeros((1, s), bool).at[0, -2:].set(True)
    args = (tgt, query_pos, ref, memory, shapes, query_mask, src_mask)
    layers = [
        DeformableDecoderLayer(c, 32, levels, heads, points, q, "xla", False, recompute)
        for recompute in (False, True)
    ]
    params = layers[0].init(k[4], *args, merge_det_track=True)["params"]
    params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(7), a.shape), params)
    cotangent = jax.random.normal(jax.random.key(8), (1, q, c))

    def loss(layer):
        return lambda p, memory: jnp.vdot(
            cotangent,
            layer.apply(
                {"params": p}, tgt, query_pos, ref, memory, *args[4:], merge_det_track=True
            ),
        )

    _assert_same_value_and_grads(
        *(jax.value_and_grad(loss(layer), argnums=(0, 1))(params, memory) for layer in layers),
        rtol=1e-5,
        atol=1e-6,
    )
    value = ((1, s, heads, c // heads), "float32")
    assert value in _residual_shapes(loss(layers[0]), params, memory)
    assert value not in _residual_shapes(loss(layers[1]), params, memory)
