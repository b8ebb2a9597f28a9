"""The Samba query updater: official parity, weight loading, MaskObs, capacity, compilation."""

from __future__ import annotations

import functools
import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np

from sambamotr_jax.updaters.samba import SambaConfig
from sambamotr_jax.updaters.samba_updater import QueryUpdater
from sambamotr_jax.weights.torch_state import fill_variables, load_torch_checkpoint

FIELDS = (
    "query_embed",
    "ref_pts",
    "output_embed",
    "boxes",
    "logits",
    "hidden_state",
    "conv_history",
)


def _zeros(K, c=256, n_layers=4, d_inner=512, d_state=16, d_conv=4, q_dim=512):
    return dict(
        query_embed=np.zeros((K, q_dim), np.float32),
        ref_pts=np.zeros((K, 4), np.float32),
        output_embed=np.zeros((K, c), np.float32),
        boxes=np.zeros((K, 4), np.float32),
        logits=np.zeros((K, 1), np.float32),
        hidden_state=np.zeros((K, n_layers, d_inner, d_state), np.float32),
        conv_history=np.zeros((K, n_layers, d_conv, d_inner), np.float32),
    )


@functools.cache
def _official_updater(fixture_dir: pathlib.Path):
    meta_thresh = 0.7287  # meta.json inference.thresholds.UPDATE_THRESH
    model = QueryUpdater(update_threshold=meta_thresh)
    K = 16
    template = jax.eval_shape(
        lambda: model.init(jax.random.key(0), **_zeros(K), live=np.zeros((K,), bool))
    )
    state = load_torch_checkpoint(fixture_dir / "weights.pth")
    variables, report = fill_variables(state, {"params": {"query_updater": template["params"]}})
    return model, {"params": variables["params"]["query_updater"]}, report, state


def test_official_weights_fill_every_query_updater_parameter(def_detr_fixture):
    import json

    meta = json.loads((def_detr_fixture / "meta.json").read_text())
    assert meta["inference"]["thresholds"]["UPDATE_THRESH"] == 0.7287
    _, _, report, state = _official_updater(def_detr_fixture)
    qu_keys = [k for k in state if k.startswith("query_updater.")]
    assert len(qu_keys) == 156
    assert sorted(report.loaded) == sorted(qu_keys)
    assert report.missing == [] and report.mis_shaped == []
    assert all(not k.startswith("query_updater.") for k in report.unexpected)


def _official_frame_inputs(outputs, det_query_embed, t):
    """The tracks the official updater receives at frame t (RuntimeTracker + select_active_tracks).

    Previous tracks (f{t-1}/track_*, in their order, minus those the tracker killed at frame t)
    with their rows of this frame's decoder outputs (track rows follow the 300 detection rows),
    then the newborn tracks in detection-query order.
    """
    n_det = int(outputs["n_det_queries"])
    f = f"f{t}/"
    born = outputs[f + "born_det_idx"]
    new = dict(
        query_embed=np.concatenate(
            [det_query_embed[born][:, :256], outputs[f + "aux_last_queries"][born]], axis=-1
        ),
        ref_pts=outputs[f + "last_ref_pts"][born],
        output_embed=outputs[f + "outputs"][born],
        boxes=outputs[f + "pred_bboxes"][born],
        logits=outputs[f + "pred_logits"][born],
        hidden_state=np.zeros((len(born), 4, 512, 16), np.float32),
        conv_history=np.zeros((len(born), 4, 4, 512), np.float32),
    )
    if t == 0:
        return new
    p = f"f{t - 1}/"
    np.testing.assert_array_equal(outputs[f + "model_in_track_ids"], outputs[p + "track_ids"])
    alive = outputs[f + "after_tracker_ids"] >= 0
    prev = dict(
        query_embed=outputs[p + "track_query_embed"],
        ref_pts=outputs[p + "track_ref_pts"],
        output_embed=outputs[f + "outputs"][n_det:],
        boxes=outputs[f + "pred_bboxes"][n_det:],
        logits=outputs[f + "pred_logits"][n_det:],
        hidden_state=outputs[p + "track_hidden_state"],
        conv_history=outputs[p + "track_conv_history"],
    )
    return {k: np.concatenate([prev[k][alive], new[k]]) for k in FIELDS}


def _pad(tracks, K, value=3.0):
    T = len(tracks["boxes"])
    padded = {
        k: np.concatenate([v, np.full((K - T,) + v.shape[1:], value, v.dtype)])
        for k, v in tracks.items()
    }
    return padded, np.arange(K) < T


def test_official_parity_per_frame(def_detr_fixture):
    model, variables, _, state = _official_updater(def_detr_fixture)
    outputs = np.load(def_detr_fixture / "outputs.npz")
    apply = jax.jit(model.apply)
    K = 16
    n_live = []
    for t in range(int(outputs["n_frames"])):
        tracks = _official_frame_inputs(outputs, state["det_query_embed"], t)
        padded, live = _pad(tracks, K)
        T = int(live.sum())
        n_live.append(T)
        got = apply(variables, **padded, live=live)
        for name in ("query_embed", "ref_pts", "hidden_state", "conv_history"):
            want = outputs[f"f{t}/track_{name}"]
            ours = np.asarray(getattr(got, name))
            assert ours.shape[0] == K and want.shape[0] == T
            tol = 1e-4 * np.abs(want).max()
            np.testing.assert_allclose(ours[:T], want, rtol=0, atol=tol, err_msg=f"f{t} {name}")
            np.testing.assert_array_equal(ours[T:], 0.0)
    assert n_live == [4, 8, 11, 14]  # meta.json per_frame: alive after each update


# ---------------------------------------------------------------------------------------------
# Tiny model tests (random weights).
TINY = dict(
    samba=SambaConfig(d_model=32, ffn_dim=16, num_heads=4, d_state=8, num_layers=2),
    update_threshold=0.5,
)


def _tiny_inputs(K, rng):
    x = _zeros(K, c=32, n_layers=2, d_inner=64, d_state=8, q_dim=64)
    x = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in x.items()}
    x["boxes"] = rng.uniform(0.2, 0.8, size=(K, 4)).astype(np.float32)
    return x


@functools.cache
def _tiny_model():
    model = QueryUpdater(**TINY)
    inputs = _tiny_inputs(4, np.random.default_rng(0))
    variables = jax.jit(model.init)(jax.random.key(0), **inputs, live=np.ones((4,), bool))
    return model, variables, jax.jit(model.apply)


def test_mask_obs_and_reference_update():
    model, variables, apply = _tiny_model()
    rng = np.random.default_rng(3)
    x = _tiny_inputs(4, rng)
    # Track 0 positive; track 1 exactly at the threshold (strict: not positive); 2, 3 below.
    x["logits"] = np.array([[2.0], [0.0], [-1.0], [-3.0]], np.float32)
    live = np.ones((4,), bool)
    out = apply(variables, **x, live=live)
    # Positive: ref_pts = inverse_sigmoid(box); non-positive keep theirs exactly.
    np.testing.assert_allclose(
        out.ref_pts[0], np.log(x["boxes"][0] / (1 - x["boxes"][0])), rtol=1e-5
    )
    np.testing.assert_array_equal(out.ref_pts[1:], x["ref_pts"][1:])
    # MaskObs: a non-positive track's observation and box reach nothing.
    y = {k: v.copy() for k, v in x.items()}
    y["output_embed"][1:] = rng.normal(size=y["output_embed"][1:].shape)
    y["boxes"][1:] = rng.uniform(0.2, 0.8, size=(3, 4))
    out_y = apply(variables, **y, live=live)
    for a, b in zip(out, out_y, strict=True):
        np.testing.assert_array_equal(a, b)
    # ...but the positive track's observation does reach the others (synchronization).
    z = {k: v.copy() for k, v in x.items()}
    z["output_embed"][0] += rng.normal(size=z["output_embed"][0].shape)  # not a constant shift
    out_z = apply(variables, **z, live=live)
    assert np.abs(np.asarray(out_z.hidden_state[1]) - np.asarray(out.hidden_state[1])).max() > 1e-5
    # Masked tracks still update their Samba state, conv history and query (all scores >= 0).
    assert np.abs(np.asarray(out.hidden_state[2]) - x["hidden_state"][2]).max() > 1e-3
    np.testing.assert_array_equal(out.conv_history[2][:, :-1], x["conv_history"][2][:, 1:])
    assert np.abs(np.asarray(out.query_embed[2]) - x["query_embed"][2]).max() > 1e-3


def test_extra_capacity_leaves_live_outputs_unchanged():
    model, variables, apply = _tiny_model()
    rng = np.random.default_rng(4)
    T = 3
    x = _tiny_inputs(T, rng)
    small = apply(variables, **x, live=np.ones((T,), bool))
    for K, fill in ((4, 0.0), (9, 1e4), (9, np.nan)):
        padded, live = _pad(x, K, fill)
        big = apply(variables, **padded, live=live)
        for s, b in zip(small, big, strict=True):
            np.testing.assert_allclose(b[:T], s, rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(b[T:], 0.0)
    # No live track at all (the attention has no valid key): zeros, no NaN.
    padded, _ = _pad(x, 4, np.nan)
    empty = apply(variables, **padded, live=np.zeros((4,), bool))
    for b in empty:
        np.testing.assert_array_equal(b, 0.0)


def test_one_compile_per_shape():
    model, variables, apply = _tiny_model()
    rng = np.random.default_rng(5)
    K = 6
    x = _tiny_inputs(K, rng)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(v, inputs, live):
        return model.apply(v, **inputs, live=live)

    outs = [step(variables, x, jnp.arange(K) < T) for T in (1, 2, 5, 6)]
    assert outs[0].query_embed.shape == (K, 64)
    chex.clear_trace_counter()
