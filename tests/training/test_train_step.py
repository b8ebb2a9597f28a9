"""The jitted clip loss / train step on the tiny config: loss terms, frozen parameters,
NO_GRAD_FRAMES, remat, the clip encoded at once vs frame by frame, one trace."""

from __future__ import annotations

import dataclasses

import chex
import jax
import ml_collections
import numpy as np
import pytest
from flax import traverse_util

from configs import tiny
from sambamotr_jax import model as model_lib
from sambamotr_jax.training import clip_step as TS
from sambamotr_jax.training import criterion as C
from sambamotr_jax.training import optimizer as O
from sambamotr_jax.weights.torch_names import official_name

B, T, S, M, K = (
    2,
    3,
    96,
    4,
    20,
)  # S = 96: the 4th level is 2x2 (at 1x1 its GroupNorm output is constant)


def training_config(**train) -> ml_collections.ConfigDict:
    """The tiny config (official loss/optim sections from configs/common.py), a minimal train
    section and a steps_per_epoch for the schedule."""
    c = tiny.get_config()
    c.train = ml_collections.ConfigDict(
        dict(
            track_capacity=K,
            no_grad_frames=(),
            no_grad_steps=(),
            remat=False,
            encode_clip_at_once=True,
        )
    )
    c.train.update(train)
    c.optim.steps_per_epoch = 100
    return c


def make_batch(seed: int) -> dict[str, np.ndarray]:
    """B clips of T frames with 3 objects drifting right; clip 1 is padded on the right."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(B, T, S, S, 3)).astype(np.float32)
    pad_mask = np.zeros((B, T, S, S), bool)
    pad_mask[1, :, :, 72:] = True
    images[pad_mask] = 0.0
    boxes = np.zeros((B, T, M, 4), np.float32)
    ids = np.full((B, T, M), -1, np.int32)
    obj_mask = np.zeros((B, T, M), bool)
    for b in range(B):
        for t in range(T):
            n = 3 if t < 2 else 2  # object 3 leaves at the last frame
            start = rng.uniform(0.2, 0.6, size=(n, 2))
            boxes[b, t, :n, :2] = start + 0.02 * t
            boxes[b, t, :n, 2:] = rng.uniform(0.1, 0.3, size=(n, 2))
            ids[b, t, :n] = np.arange(1, n + 1) + 10 * b
            obj_mask[b, t, :n] = True
    return dict(
        images=images,
        pad_mask=pad_mask,
        boxes=boxes,
        ids=ids,
        labels=np.zeros((B, T, M), np.int32),
        obj_mask=obj_mask,
    )


@pytest.fixture(scope="module")
def setup():
    config = training_config()
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    # Away from the degenerate initialization (zero-initialized sampling offsets, attention
    # weights and box-head last layers give many exactly-zero gradients): small noise on every
    # parameter, and class biases that make detections score ~0.7 > UPDATE_THRESH, so unmatched
    # detections are kept and the query updater sees positive tracks.
    # The noise comes from numpy: eager jax.random calls compile one program per parameter shape.
    rng = np.random.default_rng(1)
    flat = traverse_util.flatten_dict(jax.device_get(variables["params"]))
    flat = {k: v + (0.02 * rng.normal(size=v.shape)).astype(np.float32) for k, v in flat.items()}
    for k in flat:
        if k[1].startswith("class_embed_") and k[-1] == "bias":
            flat[k] = np.full_like(flat[k], 1.0)
    params = jax.device_put(traverse_util.unflatten_dict(flat))
    variables = {"params": params, "buffers": variables["buffers"]}
    return config, model, variables, make_batch(0)


def _grads(model, variables, batch, cfg):
    fn = jax.jit(
        jax.value_and_grad(
            lambda p: TS.clip_loss(model, p, variables["buffers"], batch, jax.random.key(1), cfg),
            has_aux=True,
        )
    )
    (loss, metrics), grads = fn(variables["params"])
    return float(loss), jax.device_get(metrics), jax.device_get(grads)


@pytest.fixture(scope="module")
def baseline(setup):
    config, model, variables, batch = setup
    return _grads(model, variables, batch, TS.clip_step_config(config, epoch=0))


def _flat(tree):
    return {official_name(k): np.asarray(v) for k, v in traverse_util.flatten_dict(tree).items()}


def test_clip_step_config_reads_the_official_fields():
    config = training_config(no_grad_frames=(5, 2), no_grad_steps=(3, 0), remat=True)
    assert TS.clip_step_config(config, epoch=0).no_grad_frames == 2
    cfg = TS.clip_step_config(config, epoch=4)
    assert cfg.no_grad_frames == 5 and cfg.remat and cfg.track_capacity == K
    assert not cfg.encode_clip_at_once  # remat keeps the encoder inside the per-frame checkpoint
    assert TS.clip_step_config(training_config(), epoch=0).encode_clip_at_once
    off = training_config(encode_clip_at_once=False)
    assert not TS.clip_step_config(off, epoch=0).encode_clip_at_once
    assert cfg.criterion.aux_loss_weights == (1.0,)  # tiny: 2 decoder layers, 1 aux layer
    assert cfg.criterion.update_threshold == config.model.update_thresh
    config.loss.aux_weights = (1.0, 2.0)
    with pytest.raises(ValueError, match="aux_weights"):
        TS.clip_step_config(config, epoch=0)


def test_loss_terms_and_total(setup, baseline):
    config, *_ = setup
    loss, metrics, _ = baseline
    cfg = TS.clip_step_config(config, epoch=0)
    terms = {f"{t}{s}" for t in C.TERMS for s in ("", "_aux0")}
    assert set(metrics) == terms | {"total_loss", "num_gts", "num_tracks", "track_overflow"}
    weights = C.loss_weights(cfg.criterion)
    expected = sum(weights[k] * float(metrics[k]) for k in terms)
    assert loss == pytest.approx(expected, rel=1e-6)
    assert float(metrics["total_loss"]) == pytest.approx(loss, rel=1e-7)
    assert float(metrics["num_gts"]) == B * (3 + 3 + 2)
    assert all(np.isfinite(float(metrics[k])) and float(metrics[k]) > 0 for k in terms)
    assert float(metrics["track_overflow"]) == 0.0


def test_frozen_parameters_get_no_gradient(baseline):
    grads = _flat(baseline[2])
    frozen = [n for n in grads if O.is_frozen(n)]
    assert any(".conv1." in n for n in frozen) and any(".layer1." in n for n in frozen)
    assert all(not grads[n].any() for n in frozen)
    # Everything else used by the loss has a gradient, the query updater included.
    trained = [n for n in grads if not O.is_frozen(n)]
    assert any(n.startswith("query_updater.") and grads[n].any() for n in trained)
    zero = [n for n in trained if not grads[n].any()]
    assert not zero, zero


@pytest.fixture(scope="module")
def no_grad_one(setup):
    """The first frame without gradient (backbone + encoder batched over the clip)."""
    _, model, variables, batch = setup
    cfg = TS.clip_step_config(training_config(no_grad_frames=(1,), no_grad_steps=(0,)), epoch=0)
    assert cfg.no_grad_frames == 1 and cfg.encode_clip_at_once
    return cfg, _grads(model, variables, batch, cfg)


def test_no_grad_frames_change_gradients_not_the_loss(setup, baseline, no_grad_one):
    loss, metrics, grads = baseline
    _, (loss1, metrics1, grads1) = no_grad_one
    assert loss1 == pytest.approx(loss, rel=1e-5)
    for k in metrics:
        np.testing.assert_allclose(metrics1[k], metrics[k], rtol=1e-5, err_msg=k)
    g, g1 = _flat(grads), _flat(grads1)
    diff = max(np.abs(g[n] - g1[n]).max() / (np.abs(g[n]).max() + 1e-12) for n in g)
    assert diff > 1e-2


def test_remat_gives_the_same_gradients(setup, baseline):
    config, model, variables, batch = setup
    loss, _, grads = baseline
    cfg = TS.clip_step_config(training_config(remat=True), epoch=0)
    loss_r, _, grads_r = _grads(model, variables, batch, cfg)
    assert loss_r == pytest.approx(loss, rel=1e-6)
    g, gr = _flat(grads), _flat(grads_r)
    floor = 1e-6 * max(np.abs(v).max() for v in g.values())  # e.g. conv biases before GroupNorm
    # The same math, fused differently: float32 rounding only (the Samba parameters' float32
    # gradients are ~1e-2 from float64, see test_train_step_parity.py).
    for n in g:
        assert np.abs(gr[n] - g[n]).max() <= 1e-2 * np.abs(g[n]).max() + floor, n


def test_encoding_the_clip_at_once_equals_frame_by_frame(setup, no_grad_one):
    # The backbone + encoder of the clip's frames as one batch before the frame scan (two
    # batches here: the no-grad frame and the others) vs inside the scan as the official loop.
    _, model, variables, batch = setup
    cfg, (loss, metrics, grads) = no_grad_one
    per_frame = dataclasses.replace(cfg, encode_clip_at_once=False)
    loss_f, metrics_f, grads_f = _grads(model, variables, batch, per_frame)
    assert loss_f == pytest.approx(loss, rel=1e-6)
    for k in metrics:
        np.testing.assert_allclose(metrics_f[k], metrics[k], rtol=1e-5, err_msg=k)
    g, gf = _flat(grads), _flat(grads_f)
    floor = 1e-6 * max(np.abs(v).max() for v in g.values())  # conv biases before GroupNorm
    assert max(np.abs(v).max() for v in g.values()) > 0
    for n in g:
        assert np.abs(gf[n] - g[n]).max() <= 1e-4 * np.abs(g[n]).max() + floor, n


def test_train_step_updates_trainable_parameters_only_and_traces_once(setup):
    config, model, variables, batch = setup
    cfg = TS.clip_step_config(config, epoch=0)
    tx = O.make_optimizer(config, variables["params"])
    state = TS.TrainState.create(variables["params"], variables["buffers"], tx, jax.random.key(2))

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state, batch):
        return TS.train_step(model, tx, state, batch, cfg)

    before = _flat(state.params)
    state, metrics = step(state, batch)
    state, metrics2 = step(state, make_batch(1))  # new contents, same shapes: no retrace
    after = _flat(state.params)
    assert int(state.step) == 2
    assert float(metrics["lr"]) == pytest.approx(2e-4, rel=1e-6)
    assert float(metrics["grad_norm"]) > 0 and np.isfinite(float(metrics2["total_loss"]))
    for n in before:
        if O.is_frozen(n):
            np.testing.assert_array_equal(after[n], before[n], err_msg=n)
    changed = [not np.array_equal(after[n], before[n]) for n in before if not O.is_frozen(n)]
    assert np.mean(changed) > 0.9
    # Frozen-BN statistics are buffers: untouched.
    for a, b in zip(jax.tree.leaves(state.buffers), jax.tree.leaves(variables["buffers"])):
        np.testing.assert_array_equal(a, b)


def test_only_the_query_updater_trains_after_only_train_query_updater_after(setup, baseline):
    config, model, variables, batch = setup
    config = training_config()
    config.optim.only_train_query_updater_after = 0  # epoch 0 is already past it
    params = variables["params"]
    tx = O.make_optimizer(config, params)
    # Jitted: one compile instead of one per eager optax operation.
    updates, _ = jax.jit(lambda g, p: tx.update(g, tx.init(p), p))(baseline[2], params)
    new = _flat(jax.tree.map(lambda p, u: p + u, params, updates))
    old = _flat(params)
    for n in old:
        if n.startswith("query_updater."):
            continue
        np.testing.assert_array_equal(new[n], old[n], err_msg=n)
    assert any(not np.array_equal(new[n], old[n]) for n in old if n.startswith("query_updater."))


def test_bfloat16_compute_stays_close(setup, baseline):
    config, model, variables, batch = setup
    cfg = TS.clip_step_config(config, epoch=0)
    cfg_bf16 = TS.ClipStepConfig(
        track_capacity=cfg.track_capacity, criterion=cfg.criterion, compute_dtype="bfloat16"
    )
    loss, _ = jax.jit(
        lambda p: TS.clip_loss(model, p, variables["buffers"], batch, jax.random.key(1), cfg_bf16)
    )(variables["params"])
    assert float(loss) == pytest.approx(baseline[0], rel=5e-2)
