"""2-D convolution that stays fast on tiny feature maps (the synthetic set's 80x60 frames).

XLA:CPU runs the convolutions of small maps far below its matmul speed:

- Its algebraic simplifier swaps a convolution's operands when the kernel window holds more
  elements than the input map (a 3x3 kernel on a 2x3 map: ResNet's layer4 on an 80x60 frame).
  The swapped form misses the Eigen fast path: resnet18's 512->512 3x3 conv on a (1, 2, 3, 512)
  map takes 15 ms, against 0.26 ms as patches times a matrix (`benchmarks/conv.py`).
- The weight gradient of a convolution over one frame is a convolution whose window is the
  whole map; on 8x10 and 4x5 maps these ran at ~1 GFLOP/s.

`conv_general_dilated` is a drop-in for `jax.lax.conv_general_dilated` as flax's `nn.Conv`
calls it: a map of at most `PATCHES_MAX_PIXELS` pixels goes through `patches_conv`, which
gathers the kh*kw shifted windows (static pads and strided slices) and contracts them with the
kernel in one dot, forward and backward; every other convolution goes to XLA's own. The sums
are the same, in another order. `Conv` is `nn.Conv` with it, same parameters. The synthetic
config's training step takes 0.125 s with it and 0.295 s with XLA's convolution everywhere.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

_NHWC = ("NHWC", "HWIO", "NHWC")  # flax nn.Conv's layout for 2-D inputs


def _is_flax_2d(dimension_numbers) -> bool:
    if dimension_numbers is None:
        return False
    spec = jax.lax.conv_dimension_numbers((1, 1, 1, 1), (1, 1, 1, 1), _NHWC)
    return dimension_numbers == spec or dimension_numbers == _NHWC


# Maps of at most this many input pixels (20x20) go through `patches_conv`; DanceTrack-sized
# training and inference (layer4 at 25x45 and up) never do.
PATCHES_MAX_PIXELS = 400


def small_map(input_hw: tuple[int, int]) -> bool:
    """True for the maps `conv_general_dilated` sends to `patches_conv` (see the module)."""
    return math.prod(input_hw) <= PATCHES_MAX_PIXELS


def patches_conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    precision=None,
) -> jax.Array:
    """x (B, H, W, Cin), kernel (kh, kw, Cin, Cout) -> (B, Ho, Wo, Cout) as one dot over windows."""
    kh, kw, cin, cout = kernel.shape
    (pt, pb), (pl, pr) = padding
    sh, sw = strides
    xp = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    ho = (xp.shape[1] - kh) // sh + 1
    wo = (xp.shape[2] - kw) // sw + 1
    windows = [
        xp[:, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]  # kh*kw x (B, Ho, Wo, Cin), in the kernel's (kh, kw) order
    cols = jnp.concatenate(windows, axis=-1)  # (B, Ho, Wo, kh*kw*Cin)
    return jnp.dot(cols, kernel.reshape(kh * kw * cin, cout), precision=precision)


def conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    batch_group_count=1,
    precision=None,
    preferred_element_type=None,
):
    """`jax.lax.conv_general_dilated`, through `patches_conv` for tiny NHWC maps (see module)."""
    plain = (
        lhs.ndim == 4
        and _is_flax_2d(dimension_numbers)
        and not isinstance(padding, str)
        and all(d == 1 for d in (lhs_dilation or (1, 1)))
        and all(d == 1 for d in (rhs_dilation or (1, 1)))
        and feature_group_count == 1
        and batch_group_count == 1
        and preferred_element_type is None
    )
    if plain and small_map(lhs.shape[1:3]):
        return patches_conv(lhs, rhs, tuple(window_strides), tuple(map(tuple, padding)), precision)
    return jax.lax.conv_general_dilated(
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )


Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
