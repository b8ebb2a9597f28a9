"""sambamotr_jax.nn.small_map_conv: the patches path equals XLA's convolution, and is taken only on small maps."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from sambamotr_jax.nn import small_map_conv

# (input (B, H, W, Cin), Cout, kernel, stride, padding)
CASES = [
    ((2, 2, 3, 8), 5, 3, 1, 1),  # kernel larger than the map: XLA swaps the operands here
    ((1, 4, 5, 6), 7, 3, 2, 1),  # strided, odd sizes
    ((1, 3, 2, 4), 4, 3, 2, 1),
    ((2, 9, 7, 3), 6, 7, 2, 3),  # the stem's 7x7 / 2
    ((1, 5, 6, 8), 3, 1, 2, 0),  # 1x1 / 2 downsample
    ((1, 6, 4, 3), 2, 3, 1, 0),  # no padding
]


def _xla(x, w, stride, pad):
    return jax.lax.conv_general_dilated(
        x, w, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


@pytest.mark.parametrize("shape,cout,k,stride,pad", CASES)
def test_patches_conv_matches_xla_values_and_gradients(shape, cout, k, stride, pad):
    x = jax.random.normal(jax.random.key(0), shape)
    w = jax.random.normal(jax.random.key(1), (k, k, shape[-1], cout))
    ct = None

    def run(f):
        nonlocal ct
        y, vjp = jax.vjp(f, x, w)
        if ct is None:
            ct = jax.random.normal(jax.random.key(2), y.shape)
        return (y, *vjp(ct))

    def patches(x, w):
        return small_map_conv.patches_conv(x, w, (stride, stride), ((pad, pad), (pad, pad)))

    ref = run(lambda x, w: _xla(x, w, stride, pad))
    got = run(patches)
    for r, g, name in zip(ref, got, ("output", "d input", "d kernel")):
        assert g.shape == r.shape, name
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5, err_msg=name)


def _hlo_convolutions(module, variables, x) -> int:
    return jax.jit(module.apply).lower(variables, x).compile().as_text().count(" convolution(")


@pytest.mark.parametrize("hw,patches", [((2, 3), True), ((20, 20), True), ((21, 20), False)])
def test_conv_module_takes_patches_path_only_on_small_maps(hw, patches):
    x = jax.random.normal(jax.random.key(0), (1, *hw, 4))
    ours = small_map_conv.Conv(6, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), name="c")
    plain = nn.Conv(6, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), name="c")
    variables = ours.init(jax.random.key(1), x)
    # The same parameters as flax's Conv, so converted checkpoints load unchanged.
    assert jax.tree.structure(variables) == jax.tree.structure(plain.init(jax.random.key(1), x))
    np.testing.assert_allclose(
        ours.apply(variables, x), plain.apply(variables, x), rtol=1e-5, atol=1e-5
    )
    assert (_hlo_convolutions(ours, variables, x) == 0) == patches


def test_dilated_or_grouped_convs_stay_with_xla():
    x = jax.random.normal(jax.random.key(0), (1, 3, 3, 4))
    for kwargs in ({"kernel_dilation": (2, 2)}, {"feature_group_count": 2}):
        ours = small_map_conv.Conv(4, (3, 3), padding=((2, 2), (2, 2)), **kwargs)
        plain = nn.Conv(4, (3, 3), padding=((2, 2), (2, 2)), **kwargs)
        variables = ours.init(jax.random.key(1), x)
        assert _hlo_convolutions(ours, variables, x) == 1, kwargs
        np.testing.assert_allclose(ours.apply(variables, x), plain.apply(variables, x), rtol=1e-6)


def test_small_map_threshold():
    assert small_map_conv.small_map((20, 20)) and small_map_conv.small_map((2, 3))
    assert not small_map_conv.small_map((21, 20)) and not small_map_conv.small_map((25, 45))
