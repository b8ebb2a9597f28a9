"""Parity of the Flax detector with the official SambaMOTR (Deformable-DETR) and MeMOTR (DAB)
detectors, frame by frame, on the golden fixtures (official weights, official track queries).

Track queries are padded into a capacity larger than the live count, so the masking of empty
slots is part of what is checked.
"""

from __future__ import annotations

import json
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sambamotr_jax.detector.deformable_detr import Detector
from sambamotr_jax.weights.torch_names import QUERY_UPDATER_PREFIX
from sambamotr_jax.weights.torch_state import fill_variables, load_torch_checkpoint
from tests.official_fixture import OUTPUT_KEYS

CAPACITY = 16  # track slots; the fixtures have at most 12 live tracks per frame
REL_TOL = 1e-4  # max|ours - official| <= REL_TOL * max|official|, per array


class _Model(nn.Module):
    """The detector under the name `detector`, as in the full model's variable tree."""

    config: Detector  # an unbound Detector carrying the configuration

    @nn.compact
    def __call__(self, *args):
        return self.config.clone(parent=self, name="detector")(*args)


def _detector_from_meta(fixture: pathlib.Path) -> Detector:
    cfg = json.loads((fixture / "meta.json").read_text())["config_used_for_inference"]
    return Detector(
        num_classes=1,
        backbone_name=cfg["BACKBONE"],
        hidden_dim=cfg["HIDDEN_DIM"],
        ffn_dim=cfg["FFN_DIM"],
        n_heads=cfg["NUM_HEADS"],
        n_feature_levels=cfg["NUM_FEATURE_LEVELS"],
        n_enc_points=cfg["NUM_ENC_POINTS"],
        n_dec_points=cfg["NUM_DEC_POINTS"],
        n_enc_layers=cfg["NUM_ENC_LAYERS"],
        n_dec_layers=cfg["NUM_DEC_LAYERS"],
        n_det_queries=cfg["NUM_DET_QUERIES"],
        merge_det_track_layer=cfg["MERGE_DET_TRACK_LAYER"],
        use_dab=cfg["USE_DAB"],
    )


def _check_parity(fixture: pathlib.Path) -> None:
    detector = _detector_from_meta(fixture)
    model = _Model(detector)
    inputs = np.load(fixture / "inputs.npz")
    golden = np.load(fixture / "outputs.npz")
    _, _, h, w = inputs["model_input_tensors"].shape
    dim = detector.track_query_dim
    example = (
        jnp.zeros((1, h, w, 3)),
        jnp.zeros((1, h, w), bool),
        jnp.zeros((1, CAPACITY, dim)),
        jnp.zeros((1, CAPACITY, 4)),
        jnp.zeros((1, CAPACITY), bool),
    )
    template = jax.eval_shape(model.init, jax.random.key(0), *example)
    assert set(template) == {"params", "buffers"}
    variables, report = fill_variables(load_torch_checkpoint(fixture / "weights.pth"), template)
    assert report.missing == [], report.format()
    assert report.mis_shaped == [], report.format()
    assert [k for k in report.unexpected if not k.startswith(QUERY_UPDATER_PREFIX)] == []
    assert report.aliases, "the tied transformer.decoder.bbox_embed copy should be checked"

    apply = jax.jit(model.apply)
    rng = np.random.default_rng(0)
    for t in range(int(golden["n_frames"])):
        embed = golden[f"f{t}/model_in_track_query_embed"]
        ref = golden[f"f{t}/model_in_track_ref_pts"]
        n_live = len(embed)
        assert n_live < CAPACITY
        # empty slots hold garbage: it must not reach the live outputs
        slots = rng.normal(size=(1, CAPACITY, dim)).astype(np.float32)
        slot_refs = rng.normal(size=(1, CAPACITY, 4)).astype(np.float32)
        slots[0, :n_live], slot_refs[0, :n_live] = embed, ref
        live = np.arange(CAPACITY)[None] < n_live
        out = apply(
            variables,
            inputs["model_input_tensors"][t].transpose(1, 2, 0)[None],  # (1, H, W, 3)
            inputs["model_input_masks"][t][None],
            slots,
            slot_refs,
            live,
        )
        n_queries = detector.n_det_queries + n_live
        for ours, theirs in OUTPUT_KEYS.items():
            want = golden[f"f{t}/{theirs}"]
            got = np.asarray(out[ours])[..., 0, :n_queries, :]  # batch 0, live rows
            assert got.shape == want.shape, (t, ours)
            err = np.abs(got - want).max()
            assert err <= REL_TOL * np.abs(want).max(), f"frame {t} {ours}: max err {err}"


@pytest.mark.parametrize("name", ["def_detr_fixture", "memotr_dab_fixture"])
def test_detector_matches_official(name, request):
    _check_parity(request.getfixturevalue(name))
