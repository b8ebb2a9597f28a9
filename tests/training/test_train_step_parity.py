"""Our model through the official 3-frame training clips: matching, loss terms and gradients.

The converted fixture weights run through `train_step.clip_forward` (all frames with gradient, as
the fixtures were made; UPDATE_THRESH from meta.json "training"); one jitted value_and_grad per
fixture. Checked against train_losses.json / train_clip.npz: the track ids each frame was decoded
with, every matcher call (final layer and aux layers), the six official loss terms and the total,
the gradient norm before clipping, every parameter's gradient norm and the stored full gradients.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from flax import traverse_util

from configs import dancetrack, memotr_dancetrack
from sambamotr_jax import model as model_lib
from sambamotr_jax.training import clip_step as TS
from sambamotr_jax.training import criterion as C
from sambamotr_jax.weights import conversion, torch_state
from sambamotr_jax.weights.torch_names import official_name
from tests.conftest import shared_path
from tests.official_fixture import training_batch

K = 12  # track capacity (the clips reach 7 live tracks)
M = 8  # object capacity (the clips have at most 6 objects)
FIXTURES = {"official_def_detr": dancetrack, "official_memotr_dab_detr": memotr_dancetrack}

# Tolerances. Both runs are float32 on CPU, and float32 itself is the limit (tools/grad_precision.py
# replays our model in float64 with the same weights; table in docs/design.md, "Gradient parity
# and float32"). Measured ours vs official, per-parameter gradient norm: def fixture 1.5e-3
# (Samba x_proj of layers 1/2; every detector parameter within 8.5e-4) and 1.07e-2 for the norms
# below 1e-3 of the total (a Samba sync FFN bias); MeMOTR fixture 1.94e-3 (ResNet layer3 convs) and
# 1.6e-4; total norm 1.6e-4 / 5.3e-4. The official float32 gradients are themselves up to 3.1e-3
# (def: 137 of the 332 large parameter norms beyond 1e-3) and 1.8e-3 (MeMOTR backbone) from
# float64, so the 1e-3 cannot be promised for every parameter by a float32 implementation
# that does not reproduce the official rounding; our float32 Samba gradients are farther from
# float64 than the official ones (up to 1.0e-2 vs 4.7e-4 for the small ones), cause not yet found.
# XLA:CPU also rounds differently for each instruction set: on a 2-core AMD EPYC without AVX-512
# the def-DETR fixture's total norm is 1.47e-3 from the official one, three large parameter norms
# up to 3.1e-3 (decoder.layers.1.norm2) and its level_embed gradient 1.20e-2 (the same at the
# previous release, so not a change of the code), within 1e-3, 2.5e-3 and 1e-2 on the AVX-512
# Xeon the fixture tolerances were first set on.
LOSS_RTOL = 1e-4
TOTAL_NORM_RTOL = 2e-3
PARAM_NORM_RTOL = 4e-3  # parameters whose gradient norm is >= 1e-3 of the total
SMALL_PARAM_NORM_RTOL = 1.5e-2  # the others
FULL_GRAD_RTOL = 1.5e-2  # max |ours - official| / max |official| of a stored gradient


def _canonical(name: str) -> str:
    """Official tied names (transformer.decoder.bbox_embed.*) -> the name we store them under."""
    for alias, canon in torch_state.ALIASES:
        if name.startswith(alias):
            return canon + name[len(alias) :]
    return name


# XLA's default LLVM optimization level (conftest.py compiles the suite's programs at 0).
FULL_CPU_OPTIMIZATION = {"xla_backend_optimization_level": 3}


@pytest.fixture(scope="module", params=list(FIXTURES))
def run(request):
    name = request.param
    root = shared_path("fixtures", name)
    meta = json.loads((root / "meta.json").read_text())
    official = json.loads((root / "train_losses.json").read_text())
    config = FIXTURES[name].get_config()
    config.model.update_thresh = meta["training"]["UPDATE_THRESH"]
    variables, report, _ = conversion.convert_state(
        torch_state.load_torch_checkpoint(root / "weights.pth"), config
    )
    assert report.missing == [] and report.unexpected == []
    model = model_lib.build_model(config.model)

    z = np.load(root / "train_clip.npz")
    num_frames = meta["training"]["n_frames"]
    assert meta["training"]["no_grad_frames"] is None
    batch = training_batch(z, num_frames, M)
    cfg = TS.ClipStepConfig(
        track_capacity=K,
        criterion=C.CriterionConfig(update_threshold=config.model.update_thresh),
    )

    def loss_fn(params):
        total, metrics, record = TS.clip_forward(
            model, params, variables["buffers"], batch, jax.random.key(0), cfg
        )
        return total, (metrics, record)

    # ResNet-50 forward and backward on the fixture's frames: a run long enough that it wants
    # optimized code, whatever the suite's XLA flags (conftest.py).
    (total, (metrics, record)), grads = jax.jit(
        jax.value_and_grad(loss_fn, has_aux=True), compiler_options=FULL_CPU_OPTIMIZATION
    )(variables["params"])
    flat = traverse_util.flatten_dict(grads)
    leaves = {official_name(k): k[-1] for k in flat}  # 'kernel' leaves are transposed
    grads = {official_name(k): np.asarray(v) for k, v in flat.items()}
    return {
        "name": name,
        "z": z,
        "official": official,
        "cfg": cfg,
        "total": float(total),
        "metrics": jax.device_get(metrics),
        "record": jax.device_get(record),
        "grads": grads,
        "leaves": leaves,
    }


def test_tracks_and_matching_follow_the_official_run(run):
    z, record, official = run["z"], run["record"], run["official"]
    calls = iter(official["matcher_calls"])
    for t in range(record.num_gts.shape[0]):
        n = len(z[f"f{t}/in_ids"])
        ids = record.track_ids[t, 0]
        np.testing.assert_array_equal(ids[:n], z[f"f{t}/in_ids"])  # same track queries
        assert (ids[n:] == -1).all()
        np.testing.assert_array_equal(
            record.track_matched_idx[t, 0, :n], z[f"f{t}/tracked_matched_idx"]
        )
        matches = [record.det_matched_idx[t, 0], *record.aux_det_matched_idx[t, 0]]
        for layer, match in enumerate(matches):
            call = next(calls)
            assert call["frame"] == t
            rows = np.flatnonzero(match >= 0)
            assert rows.tolist() == call["pred_idx"], (t, layer)
            assert match[rows].tolist() == call["gt_idx"], (t, layer)
        assert int(record.num_gts[t, 0]) == official["n_gts_per_frame"][t]
    assert next(calls, None) is None


def test_loss_terms_match_official(run):
    official, cfg = run["official"], run["cfg"]
    mapped = C.official_loss_dict(run["metrics"], cfg.criterion)
    assert set(mapped) == set(official["loss_dict_mean_by_n_gts"])
    for name, value in official["loss_dict_mean_by_n_gts"].items():
        np.testing.assert_allclose(mapped[name], value, rtol=LOSS_RTOL, err_msg=name)
    np.testing.assert_allclose(run["total"], official["total_loss"], rtol=LOSS_RTOL)


def test_gradient_norms_match_official(run):
    official, grads = run["official"], run["grads"]
    total = official["total_grad_norm_before_clip"]
    ours_total = np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads.values()))
    np.testing.assert_allclose(ours_total, total, rtol=TOTAL_NORM_RTOL)
    with_grad = {_canonical(n) for n in official["grad_norms"]}
    # Parameters without an official gradient (frozen, unused) have none here either.
    assert [n for n in grads if n not in with_grad and grads[n].any()] == []
    failures = []
    for name, value in official["grad_norms"].items():
        ours = float(np.linalg.norm(grads[_canonical(name)]))
        rtol = PARAM_NORM_RTOL if value >= 1e-3 * total else SMALL_PARAM_NORM_RTOL
        if abs(ours - value) > rtol * value:
            failures.append(f"{name}: {ours:.6g} vs {value:.6g} ({abs(ours - value) / value:.2e})")
    assert failures == []


def test_full_gradients_match_official(run):
    z, grads = run["z"], run["grads"]
    stored = [k for k in z.files if k.startswith("grad/")]
    assert len(stored) >= 10
    for key in stored:
        theirs = z[key]
        name = _canonical(key[len("grad/") :])
        ours = grads[name]
        if run["leaves"][name] == "kernel":  # torch (out, in, ...) -> Flax layout
            theirs = torch_state._to_flax_layout("kernel", theirs)
        err = np.abs(ours - theirs).max() / np.abs(theirs).max()
        assert err <= FULL_GRAD_RTOL, f"{key}: {err:.2e}"
