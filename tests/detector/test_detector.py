"""Unit tests of the detector on a tiny configuration (resnet18, hidden 32)."""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from sambamotr_jax.detector.backbone import FrozenBatchNorm2d, resnet_out_channels
from sambamotr_jax.detector.deformable_detr import Detector
from sambamotr_jax.nn.box_ops import inverse_sigmoid
from sambamotr_jax.nn.position_encoding import nearest_indices, resize_mask, sine_position_embedding

H, W = 64, 96
N_DET = 5


def tiny(use_dab: bool = False, backbone: str = "resnet18") -> Detector:
    return Detector(
        num_classes=2,
        backbone_name=backbone,
        hidden_dim=32,
        ffn_dim=64,
        n_heads=4,
        n_enc_points=2,
        n_dec_points=2,
        n_enc_layers=1,
        n_dec_layers=2,
        n_det_queries=N_DET,
        use_dab=use_dab,
    )


def inputs(det: Detector, capacity: int, n_live: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(2, H, W, 3)).astype(np.float32)
    pad = np.zeros((2, H, W), bool)
    pad[1, 40:, :] = True  # second frame padded at the bottom and right
    pad[1, :, 70:] = True
    embed = rng.normal(size=(2, capacity, det.track_query_dim)).astype(np.float32)
    refs = rng.normal(size=(2, capacity, 4)).astype(np.float32)
    live = np.arange(capacity)[None].repeat(2, 0) < n_live
    return images, pad, embed, refs, live


@pytest.fixture(scope="module")
def tiny_variables():
    out = {}
    for use_dab in (False, True):
        det = tiny(use_dab)
        out[use_dab] = jax.jit(det.init)(jax.random.key(0), *inputs(det, 4, 2))
    return out


_APPLY = {use_dab: jax.jit(tiny(use_dab).apply) for use_dab in (False, True)}


@pytest.mark.parametrize("use_dab", [False, True])
def test_output_shapes(use_dab, tiny_variables):
    det = tiny(use_dab)
    out = _APPLY[use_dab](tiny_variables[use_dab], *inputs(det, 4, 2))
    q = N_DET + 4
    assert {k: v.shape for k, v in out.items()} == {
        "pred_logits": (2, q, 2),
        "pred_boxes": (2, q, 4),
        "aux_pred_logits": (1, 2, q, 2),
        "aux_pred_boxes": (1, 2, q, 4),
        "outputs": (2, q, 32),
        "aux_queries": (1, 2, q, 32),
        "aux_last_queries": (2, q, 32),
        "last_ref_pts": (2, q, 4),
        "init_ref_pts": (2, q, 4),
        "query_mask": (2, q),
        "det_query_embed": (2, N_DET, det.track_query_dim),
    }
    assert bool(jnp.all(jnp.isfinite(out["pred_boxes"])))
    np.testing.assert_array_equal(out["query_mask"][:, N_DET:], [[False, False, True, True]] * 2)


@pytest.mark.parametrize("use_dab", [False, True])
def test_empty_slots_do_not_change_live_outputs(use_dab, tiny_variables):
    det = tiny(use_dab)
    variables = tiny_variables[use_dab]
    images, pad, embed, refs, live = inputs(det, 4, 2)
    base = _APPLY[use_dab](variables, images, pad, embed, refs, live)
    # other garbage in the empty slots, same capacity: bit-identical live rows
    embed2, refs2 = embed.copy(), refs.copy()
    embed2[:, 2:] = 100.0
    refs2[:, 2:] = -3.0
    other = _APPLY[use_dab](variables, images, pad, embed2, refs2, live)
    # a smaller capacity holding only the live slots
    small = _APPLY[use_dab](variables, images, pad, embed[:, :2], refs[:, :2], live[:, :2])
    n = N_DET + 2
    for key in ("pred_logits", "pred_boxes", "outputs", "last_ref_pts", "aux_pred_boxes"):
        np.testing.assert_array_equal(other[key][..., :n, :], base[key][..., :n, :], err_msg=key)
        np.testing.assert_allclose(
            small[key][..., :n, :], base[key][..., :n, :], atol=2e-5, err_msg=key
        )


def test_tracks_skip_decoder_layer_0_and_keep_their_reference(tiny_variables):
    det = tiny(False)
    images, pad, embed, refs, live = inputs(det, 4, 4)
    out = _APPLY[False](tiny_variables[False], images, pad, embed, refs, live)
    # input of decoder layer 1 for a track = its target half, untouched by layer 0
    np.testing.assert_array_equal(out["aux_queries"][0][:, N_DET:], embed[:, :, 32:])
    np.testing.assert_allclose(out["init_ref_pts"][:, N_DET:], refs, atol=1e-5)
    # detection references start with w = h = sigmoid(0) = 0.5, i.e. logit 0
    np.testing.assert_array_equal(out["init_ref_pts"][:, :N_DET, 2:], 0.0)
    # level-0 boxes of tracks: bbox_embed[0](raw target) + full 4-D reference
    params = tiny_variables[False]["params"]

    def mlp(p, x):
        x = jax.nn.relu(x @ p["layers_0"]["kernel"] + p["layers_0"]["bias"])
        x = jax.nn.relu(x @ p["layers_1"]["kernel"] + p["layers_1"]["bias"])
        return x @ p["layers_2"]["kernel"] + p["layers_2"]["bias"]

    want = jax.nn.sigmoid(
        mlp(params["bbox_embed_0"], embed[:, :, 32:]) + inverse_sigmoid(jax.nn.sigmoid(refs))
    )
    np.testing.assert_allclose(out["aux_pred_boxes"][0][:, N_DET:], want, atol=1e-6)


def test_jit_compiles_once_per_shape(tiny_variables):
    det = tiny(False)

    # Named `apply`: the same program as `_APPLY[False]`, which the persistent compilation cache
    # of the test session (conftest.py) then gives back without compiling it again.
    @jax.jit
    @chex.assert_max_traces(n=1)
    def apply(variables, *args):
        return det.apply(variables, *args)

    for n_live in (0, 1, 3):  # the live count never changes a shape
        out = apply(tiny_variables[False], *inputs(det, 4, n_live, seed=n_live))
        assert int(out["query_mask"].sum()) == 2 * (4 - n_live)


def test_parameter_tree_uses_official_names(tiny_variables):
    params = set(flatten_dict(tiny_variables[False]["params"], sep="/"))
    buffers = set(flatten_dict(tiny_variables[False]["buffers"], sep="/"))
    for name in (
        "det_query_embed",
        "transformer/level_embed",
        "transformer/reference_points/kernel",
        "transformer/encoder/layers_0/self_attn/sampling_offsets/kernel",
        "transformer/decoder/layers_1/self_attn/in_proj_weight",
        "transformer/decoder/layers_1/self_attn/out_proj/kernel",
        "transformer/decoder/layers_0/cross_attn/value_proj/bias",
        "feature_projs_3_0/kernel",
        "feature_projs_3_1/scale",
        "class_embed_1/bias",
        "bbox_embed_1/layers_2/kernel",
        "backbone/backbone/backbone/layer2_0/downsample_0/kernel",
    ):
        assert name in params, name
    assert "backbone/backbone/backbone/layer4_1/bn2/running_var" in buffers
    assert not any("bbox_embed" in p for p in params if p.startswith("transformer"))  # tied heads
    dab = set(flatten_dict(tiny_variables[True]["params"], sep="/"))
    assert {"det_anchor", "transformer/decoder/query_scale/layers_1/kernel"} <= dab
    assert "transformer/decoder/ref_point_head/layers_0/kernel" in dab
    assert tiny_variables[True]["params"]["det_query_embed"].shape == (N_DET, 32)
    assert tiny_variables[False]["params"]["det_query_embed"].shape == (N_DET, 64)


def test_resnet_channels():
    assert resnet_out_channels("resnet18") == (128, 256, 512)
    assert resnet_out_channels("resnet34") == (128, 256, 512)
    assert resnet_out_channels("resnet50") == (512, 1024, 2048)


def test_resnet50_parameter_shapes():
    det = tiny(False, backbone="resnet50")
    variables = jax.eval_shape(det.init, jax.random.key(1), *inputs(det, 2, 1))
    assert variables["params"]["feature_projs_0_0"]["kernel"].shape == (1, 1, 512, 32)
    assert variables["params"]["feature_projs_3_0"]["kernel"].shape == (3, 3, 2048, 32)


def test_frozen_batch_norm_arithmetic():
    bn = FrozenBatchNorm2d(2)
    buffers = {
        "weight": jnp.array([2.0, 1.0]),
        "bias": jnp.array([1.0, 0.0]),
        "running_mean": jnp.array([3.0, -1.0]),
        "running_var": jnp.array([4.0 - 1e-5, 1.0 - 1e-5]),
    }
    x = jnp.array([5.0, 1.0]).reshape(1, 1, 1, 2)
    y = bn.apply({"buffers": buffers}, x)
    # scale = w / sqrt(rv + eps) = (1, 1); bias = b - rm * scale = (-2, 1)
    np.testing.assert_allclose(y.reshape(-1), [3.0, 2.0], rtol=1e-6)


def test_nearest_indices_match_torch_rule():
    np.testing.assert_array_equal(nearest_indices(11, 6), [0, 1, 3, 5, 7, 9])
    np.testing.assert_array_equal(nearest_indices(8, 4), [0, 2, 4, 6])
    mask = np.zeros((1, 4, 6), bool)
    mask[0, :, 4:] = True
    np.testing.assert_array_equal(resize_mask(mask, (2, 3))[0], [[False, False, True]] * 2)


def test_sine_position_embedding_values():
    mask = np.zeros((1, 2, 3), bool)
    mask[0, :, 2] = True  # last column is padding
    pos = np.asarray(sine_position_embedding(mask, num_pos_feats=4, temperature=20.0))
    assert pos.shape == (1, 2, 3, 8)
    eps, two_pi = 1e-6, 2 * math.pi
    y = (2 - 0.5) / (2 + eps) * two_pi  # row 1
    x = (1 - 0.5) / (2 + eps) * two_pi  # column 0: cumsum 1 of 2 valid columns
    dim = 20.0 ** (np.array([0, 0, 2, 2]) / 4)
    want_y = [np.sin(y / dim[0]), np.cos(y / dim[1]), np.sin(y / dim[2]), np.cos(y / dim[3])]
    want_x = [np.sin(x / dim[0]), np.cos(x / dim[1]), np.sin(x / dim[2]), np.cos(x / dim[3])]
    np.testing.assert_allclose(pos[0, 1, 0], want_y + want_x, atol=1e-6)


def test_official_initialization(tiny_variables):
    p = tiny_variables[False]["params"]
    np.testing.assert_array_equal(p["bbox_embed_0"]["layers_2"]["bias"], [0.0, 0.0, -2.0, -2.0])
    np.testing.assert_array_equal(p["bbox_embed_1"]["layers_2"]["bias"], [0.0] * 4)
    np.testing.assert_array_equal(p["bbox_embed_1"]["layers_2"]["kernel"], 0.0)
    np.testing.assert_allclose(p["class_embed_0"]["bias"], [-math.log(99)] * 2, rtol=1e-6)
    attn = p["transformer"]["encoder"]["layers_0"]["self_attn"]
    np.testing.assert_array_equal(attn["attention_weights"]["kernel"], 0.0)
    # sampling offsets: head h points at angle 2*pi*h/4, normalized to the unit square, point p at p+1
    grid = np.asarray(attn["sampling_offsets"]["bias"]).reshape(4, 4, 2, 2)  # (M, L, P, xy)
    np.testing.assert_allclose(grid[0, 2], [[1, 0], [2, 0]], atol=1e-6)
    np.testing.assert_allclose(grid[1, 0], [[0, 1], [0, 2]], atol=1e-6)
    np.testing.assert_allclose(grid[2, 3], [[-1, 0], [-2, 0]], atol=1e-6)
