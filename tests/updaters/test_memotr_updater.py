"""MeMOTR query updater: official parity (DAB fixture), weight fill, equivariance, masking."""

from __future__ import annotations

import functools
import pathlib

import jax
import numpy as np
import pytest

from sambamotr_jax.updaters.memotr_updater import MemotrQueryUpdater
from sambamotr_jax.weights.torch_state import fill_variables, load_torch_checkpoint

INPUTS = ("query_embed", "ref_pts", "output_embed", "boxes", "logits", "last_output", "long_memory")
OUTPUTS = ("query_embed", "ref_pts", "last_output", "long_memory")
INTERMEDIATES = (
    "confidence_weight",
    "short_memory",
    "query_pos",
    "attn_out",
    "memory_norm_out",
    "memory_ffn_out",
    "query_feat_norm_out",
    "query_feat",
)


def _pad(tracks, K, value=5.0):
    T = len(tracks["boxes"])
    padded = {
        k: np.concatenate([v, np.full((K - T,) + v.shape[1:], value, v.dtype)])
        for k, v in tracks.items()
    }
    return padded, np.arange(K) < T


@functools.cache
def _official_updater(fixture_dir: pathlib.Path):
    model = MemotrQueryUpdater(update_threshold=0.5062, ffn_dim=2048, use_dab=True)
    K = 16
    zeros = {
        k: np.zeros(
            (K, 4 if k in ("ref_pts", "boxes") else 1 if k == "logits" else 256), np.float32
        )
        for k in INPUTS
    }
    template = jax.eval_shape(
        lambda: model.init(jax.random.key(0), **zeros, live=np.zeros((K,), bool))
    )
    state = load_torch_checkpoint(fixture_dir / "weights.pth")
    variables, report = fill_variables(state, {"params": {"query_updater": template["params"]}})
    return model, {"params": variables["params"]["query_updater"]}, report, state


def test_official_weights_fill_every_query_updater_parameter(memotr_dab_fixture):
    import json

    meta = json.loads((memotr_dab_fixture / "meta.json").read_text())
    cfg = meta["config_used_for_inference"]
    assert (cfg["UPDATE_THRESH"], cfg["FFN_DIM"], cfg["USE_DAB"]) == (0.5062, 2048, True)
    _, _, report, state = _official_updater(memotr_dab_fixture)
    qu_keys = [k for k in state if k.startswith("query_updater.")]
    assert len(qu_keys) == 32
    assert sorted(report.loaded) == sorted(qu_keys)
    assert report.missing == [] and report.mis_shaped == []


def test_official_updater_inputs_are_previous_tracks_then_newborns(memotr_dab_fixture):
    """The recorded qu_in_* are what the tracker hands over (checks our reading of the code)."""
    d = np.load(memotr_dab_fixture / "outputs.npz")
    for t in range(1, int(d["n_frames"])):
        born = d[f"f{t}/born_det_idx"]
        alive = d[f"f{t}/after_tracker_ids"] >= 0
        n_prev = int(alive.sum())
        np.testing.assert_array_equal(
            d[f"f{t}/qu_in_query_embed"][:n_prev], d[f"f{t - 1}/track_query_embed"][alive]
        )
        np.testing.assert_array_equal(
            d[f"f{t}/qu_in_long_memory"][:n_prev], d[f"f{t - 1}/track_long_memory"][alive]
        )
        np.testing.assert_array_equal(
            d[f"f{t}/qu_in_query_embed"][n_prev:], d[f"f{t}/aux_last_queries"][born]
        )
        np.testing.assert_array_equal(
            d[f"f{t}/qu_in_long_memory"][n_prev:], d[f"f{t}/aux_last_queries"][born]
        )
        np.testing.assert_array_equal(
            d[f"f{t}/qu_in_last_output"][n_prev:], d[f"f{t}/outputs"][born]
        )
        np.testing.assert_array_equal(
            d[f"f{t}/qu_in_ref_pts"][n_prev:], d[f"f{t}/last_ref_pts"][born]
        )


def test_official_parity_per_frame(memotr_dab_fixture):
    model, variables, _, _ = _official_updater(memotr_dab_fixture)
    d = np.load(memotr_dab_fixture / "outputs.npz")
    apply = jax.jit(lambda v, x, live: model.apply(v, **x, live=live, mutable=["intermediates"]))
    K = 16
    for t in range(int(d["n_frames"])):
        tracks = {k: d[f"f{t}/qu_in_{k}"] for k in INPUTS}
        padded, live = _pad(tracks, K)
        T = int(live.sum())
        got, state = apply(variables, padded, live)
        for name in OUTPUTS:
            want = d[f"f{t}/track_{name}"]
            ours = np.asarray(getattr(got, name))
            np.testing.assert_allclose(
                ours[:T], want, rtol=0, atol=1e-4 * np.abs(want).max(), err_msg=f"f{t} {name}"
            )
            np.testing.assert_array_equal(ours[T:], 0.0)
        for name in INTERMEDIATES:
            want = d[f"f{t}/qu_{name}"]
            ours = np.asarray(state["intermediates"][name][0])[:T]
            np.testing.assert_allclose(
                ours, want, rtol=0, atol=1e-4 * np.abs(want).max(), err_msg=f"f{t} qu_{name}"
            )
        # Below-threshold tracks keep every field bit for bit.
        keep = ~d[f"f{t}/qu_in_is_pos_recomputed"]
        np.testing.assert_array_equal(
            np.asarray(got.query_embed)[:T][keep], tracks["query_embed"][keep]
        )
        np.testing.assert_array_equal(
            np.asarray(got.long_memory)[:T][keep], tracks["long_memory"][keep]
        )
        np.testing.assert_array_equal(
            np.asarray(got.last_output)[:T][keep], tracks["last_output"][keep]
        )
        np.testing.assert_array_equal(np.asarray(got.ref_pts)[:T][keep], tracks["ref_pts"][keep])


# ---------------------------------------------------------------------------------------------
# Tiny model tests (random weights).
def _tiny_inputs(K, rng, c=32, q_dim=32):
    x = {k: rng.normal(size=(K, c)).astype(np.float32) for k in INPUTS}
    x["query_embed"] = rng.normal(size=(K, q_dim)).astype(np.float32)
    x["ref_pts"] = rng.normal(size=(K, 4)).astype(np.float32)
    x["boxes"] = rng.uniform(0.2, 0.8, size=(K, 4)).astype(np.float32)
    x["logits"] = np.linspace(-2, 2, K, dtype=np.float32)[:, None]
    return x


@functools.cache
def _tiny(use_dab: bool):
    model = MemotrQueryUpdater(hidden_dim=32, ffn_dim=16, use_dab=use_dab, update_threshold=0.5)
    x = _tiny_inputs(4, np.random.default_rng(0), q_dim=32 if use_dab else 64)
    variables = jax.jit(model.init)(jax.random.key(0), **x, live=np.ones((4,), bool))
    return model, variables, jax.jit(model.apply)


@pytest.mark.parametrize("use_dab", [True, False])
def test_below_threshold_tracks_keep_their_state_and_padding_is_inert(use_dab):
    _, variables, apply = _tiny(use_dab)
    T, K = 6, 9
    x = _tiny_inputs(T, np.random.default_rng(1), q_dim=32 if use_dab else 64)
    small = apply(variables, **x, live=np.ones((T,), bool))
    neg = x["logits"][:, 0] <= 0.0  # sigmoid <= 0.5 = threshold: not positive (strict)
    assert 0 < neg.sum() < T
    for name, out in zip(OUTPUTS, small, strict=True):
        np.testing.assert_array_equal(np.asarray(out)[neg], x[name][neg])
        assert np.abs(np.asarray(out)[~neg] - x[name][~neg]).max() > 1e-4
    np.testing.assert_array_equal(np.asarray(small.last_output)[~neg], x["output_embed"][~neg])
    padded, live = _pad(x, K, np.nan)
    big = apply(variables, **padded, live=live)
    for s, b in zip(small, big, strict=True):
        np.testing.assert_allclose(np.asarray(b)[:T], s, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(b)[T:], 0.0)


def test_permutation_equivariance():
    _, variables, apply = _tiny(True)
    T = 7
    x = _tiny_inputs(T, np.random.default_rng(2))
    perm = np.random.default_rng(3).permutation(T)
    out = apply(variables, **x, live=np.ones((T,), bool))
    out_p = apply(variables, **{k: v[perm] for k, v in x.items()}, live=np.ones((T,), bool))
    for a, b in zip(out, out_p, strict=True):
        np.testing.assert_allclose(np.asarray(a)[perm], b, rtol=1e-5, atol=1e-5)
