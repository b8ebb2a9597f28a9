"""ResNet backbone with frozen BatchNorm (torchvision layout), returning C3, C4, C5."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.nn.lean_backward import relu
from sambamotr_jax.nn.position_encoding import resize_mask, sine_position_embedding
from sambamotr_jax.nn.small_map_conv import Conv

# Blocks per stage and block type of the supported torchvision ResNets.
RESNET_STAGES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}


def resnet_out_channels(name: str) -> tuple[int, int, int]:
    """Channels of C3, C4, C5 (layer2..layer4 outputs)."""
    block, _ = RESNET_STAGES[name]
    expansion = 4 if block == "bottleneck" else 1
    return tuple(64 * 2**i * expansion for i in (1, 2, 3))


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine terms, kept in the 'buffers' collection."""

    num_features: int
    eps: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (B, H, W, C) -> (B, H, W, C)."""
        c = self.num_features
        w = self.variable("buffers", "weight", jnp.ones, (c,), jnp.float32).value
        b = self.variable("buffers", "bias", jnp.zeros, (c,), jnp.float32).value
        rm = self.variable("buffers", "running_mean", jnp.zeros, (c,), jnp.float32).value
        rv = self.variable("buffers", "running_var", jnp.ones, (c,), jnp.float32).value
        scale = w * jax.lax.rsqrt(rv + self.eps)
        bias = b - rm * scale
        return x * scale + bias


def _conv(features: int, kernel: int, stride: int, name: str) -> nn.Conv:
    pad = kernel // 2
    return Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        kernel_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"),  # torchvision
        name=name,
    )


class BasicBlock(nn.Module):
    """torchvision BasicBlock (resnet18/34)."""

    planes: int
    stride: int
    downsample: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        out = relu(
            FrozenBatchNorm2d(self.planes, name="bn1")(
                _conv(self.planes, 3, self.stride, "conv1")(x)
            )
        )
        out = FrozenBatchNorm2d(self.planes, name="bn2")(_conv(self.planes, 3, 1, "conv2")(out))
        if self.downsample:
            x = _conv(self.planes, 1, self.stride, "downsample_0")(x)
            x = FrozenBatchNorm2d(self.planes, name="downsample_1")(x)
        return relu(out + x)


class Bottleneck(nn.Module):
    """torchvision Bottleneck (ResNet v1.5: the stride sits on conv2)."""

    planes: int
    stride: int
    downsample: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        width, out_c = self.planes, self.planes * 4
        out = relu(FrozenBatchNorm2d(width, name="bn1")(_conv(width, 1, 1, "conv1")(x)))
        out = relu(FrozenBatchNorm2d(width, name="bn2")(_conv(width, 3, self.stride, "conv2")(out)))
        out = FrozenBatchNorm2d(out_c, name="bn3")(_conv(out_c, 1, 1, "conv3")(out))
        if self.downsample:
            x = _conv(out_c, 1, self.stride, "downsample_0")(x)
            x = FrozenBatchNorm2d(out_c, name="downsample_1")(x)
        return relu(out + x)


class ResNet(nn.Module):
    """ResNet body up to layer4 (the official `IntermediateLayerGetter` drops avgpool and fc)."""

    arch: str = "resnet50"

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        """x: (B, H, W, 3) -> [C3 (B, H/8, W/8, c3), C4 (.., /16, ..), C5 (.., /32, ..)]."""
        block_kind, stages = RESNET_STAGES[self.arch]
        block_cls = Bottleneck if block_kind == "bottleneck" else BasicBlock
        expansion = 4 if block_kind == "bottleneck" else 1
        x = _conv(64, 7, 2, "conv1")(x)
        x = relu(FrozenBatchNorm2d(64, name="bn1")(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        in_c = 64
        outs = []
        for stage, n_blocks in enumerate(stages):
            planes = 64 * 2**stage
            for j in range(n_blocks):
                stride = 2 if (stage > 0 and j == 0) else 1
                down = j == 0 and (stride != 1 or in_c != planes * expansion)
                x = block_cls(planes, stride, down, name=f"layer{stage + 1}_{j}")(x)
                in_c = planes * expansion
            if stage >= 1:
                outs.append(x)
        return outs


class Backbone(nn.Module):
    """Official `Backbone`: the ResNet (as `backbone`) and its feature masks."""

    resnet: str = "resnet50"

    @nn.compact
    def __call__(
        self, images: jax.Array, pad_mask: jax.Array
    ) -> tuple[list[jax.Array], list[jax.Array]]:
        """images (B, H, W, 3), pad_mask (B, H, W) -> (features [(B, h, w, c)], masks [(B, h, w)])."""
        feats = ResNet(self.resnet, name="backbone")(images)
        masks = [resize_mask(pad_mask, f.shape[1:3]) for f in feats]
        return feats, masks


class BackboneWithPE(nn.Module):
    """Official `BackboneWithPE`: features, masks and sine position embeddings (temperature 20)."""

    resnet: str = "resnet50"
    hidden_dim: int = 256

    @nn.compact
    def __call__(
        self, images: jax.Array, pad_mask: jax.Array
    ) -> tuple[list[jax.Array], list[jax.Array], list[jax.Array]]:
        """Returns features [(B, h, w, c)], masks [(B, h, w)], pos [(B, h, w, hidden_dim)]."""
        feats, masks = Backbone(self.resnet, name="backbone")(images, pad_mask)
        pos = [sine_position_embedding(m, self.hidden_dim // 2) for m in masks]
        return feats, masks, pos
