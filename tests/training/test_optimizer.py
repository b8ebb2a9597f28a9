"""The official optimizer: names, groups, schedule, clipping and AdamW against torch."""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import traverse_util

import data_pipeline
from configs import common
from data_pipeline.builders import SequenceIndex
from data_pipeline.grain_loader import ClipPlan
from sambamotr_jax.training import optimizer as O
from sambamotr_jax.weights.torch_names import official_name


def optim_config(**overrides) -> ml_collections.ConfigDict:
    """config.optim with the official DanceTrack values (configs/common.py)."""
    c = ml_collections.ConfigDict()
    c.optim = common.optim_config()
    c.optim.steps_per_epoch = 0
    c.optim.update(overrides)
    c.train = ml_collections.ConfigDict(dict(epochs=20))  # EPOCHS: the Cosine T_max
    return c


# Our path -> official name -> group, one per group plus the naming corner cases.
CASES = [
    (
        ("detector", "backbone", "backbone", "backbone", "conv1", "kernel"),
        "backbone.backbone.backbone.conv1.weight",
        "frozen",
    ),
    (
        ("detector", "backbone", "backbone", "backbone", "layer1_0", "conv2", "kernel"),
        "backbone.backbone.backbone.layer1.0.conv2.weight",
        "frozen",
    ),
    (
        ("detector", "backbone", "backbone", "backbone", "layer2_0", "downsample_0", "kernel"),
        "backbone.backbone.backbone.layer2.0.downsample.0.weight",
        "backbone",
    ),
    (
        ("detector", "transformer", "encoder", "layers_0", "self_attn", "sampling_offsets", "bias"),
        "transformer.encoder.layers.0.self_attn.sampling_offsets.bias",
        "points",
    ),
    (
        ("detector", "transformer", "reference_points", "kernel"),
        "transformer.reference_points.weight",
        "points",
    ),
    (
        ("detector", "feature_projs_3_1", "scale"),
        "feature_projs.3.1.weight",
        "other",
    ),
    (("detector", "det_query_embed"), "det_query_embed", "other"),
    (
        ("query_updater", "sequence_model", "layers_0", "mixer", "A_log"),
        "query_updater.sequence_model.layers.0.mixer.A_log",
        "query_updater",
    ),
    (
        ("query_updater", "confidence_weight_net_0", "layers_1", "bias"),
        "query_updater.confidence_weight_net.0.layers.1.bias",
        "query_updater",
    ),
]


@pytest.mark.parametrize("path, name, group", CASES)
def test_official_names_and_groups(path, name, group):
    assert official_name(path) == name
    assert O.group_of(name) == group


def test_learning_rate_schedule():
    c = optim_config(lr_drop_milestones=(10,), only_train_query_updater_after=15)
    lr = lambda epoch, group: float(O.learning_rate(c, epoch * 7 + 3, 7, group))  # noqa: E731
    assert lr(0, "other") == pytest.approx(2e-4, rel=1e-6)
    assert lr(9, "other") == pytest.approx(2e-4, rel=1e-6)
    assert lr(10, "other") == pytest.approx(2e-5, rel=1e-6)
    assert lr(10, "backbone") == pytest.approx(2e-6, rel=1e-6)
    assert lr(0, "points") == pytest.approx(1e-5, rel=1e-6)
    # ONLY_TRAIN_QUERY_UPDATER_AFTER: everything else gets lr 0.
    assert lr(15, "other") == 0.0 and lr(15, "backbone") == 0.0 and lr(15, "points") == 0.0
    assert lr(15, "query_updater") == pytest.approx(2e-5, rel=1e-6)
    cos = optim_config(lr_scheduler="Cosine")
    assert float(O.learning_rate(cos, 5, 1)) == pytest.approx(2e-4 * (1 + np.cos(np.pi / 4)) / 2)


def test_cosine_reads_the_run_epochs_from_a_real_config():
    """T_max is config.train.epochs (config.optim has no epochs field)."""
    config = common.get_config()
    config.optim.lr_scheduler = "Cosine"
    config.train.epochs = 8
    assert "epochs" not in config.optim
    params = _toy_params(np.random.default_rng(0))
    tx = O.make_optimizer(config, params, steps_per_epoch=3)
    assert float(O.current_lr(tx.init(params))) == pytest.approx(2e-4)  # schedule(0) ran
    # Update 6 is the first of epoch 2.
    assert float(O.learning_rate(config, 6, 3)) == pytest.approx(
        2e-4 * (1 + np.cos(np.pi * 2 / 8)) / 2, rel=1e-6
    )


def test_epochs_of_unequal_length_follow_the_clip_plan():
    """The official datasets rebuild their clips per epoch (one per begin frame), so a longer
    clip (the next SAMPLE_STEPS stage) means fewer steps per epoch; the lr schedule counts the
    plan's epochs, not a fixed epoch length."""
    seq = SequenceIndex(
        name="s", start=0, first_frame=1, num_objects=np.ones(10, np.int32), frame_rate=0.0,
        width=8, height=8,
    )  # fmt: skip
    source = types.SimpleNamespace(records=types.SimpleNamespace(sequences=[seq]), kind="video")
    source.first_epoch = 0
    sampler = data_pipeline.SamplerConfig(sample_steps=(1, 2), sample_lengths=(2, 5, 8))
    plan = ClipPlan(
        [source], sampler, batch_size=1, seed=0, process_index=0, process_count=1, num_epochs=4
    )
    # Frames 1..10 annotated: 10 - (L - 1) begin frames for L = 2, 5, 8, 8.
    assert plan.steps_per_epoch == [9, 6, 3, 3]

    c = optim_config(lr_drop_milestones=(1, 3), only_train_query_updater_after=2)
    np.testing.assert_array_equal(O.epoch_starts(plan.steps_per_epoch), [0, 9, 15, 18])
    lr = [float(O.learning_rate(c, n, epoch_steps=plan.steps_per_epoch)) for n in range(21)]
    assert lr[:9] == pytest.approx([2e-4] * 9, rel=1e-6)
    assert lr[9:15] == pytest.approx([2e-5] * 6, rel=1e-6)  # epoch 1, after milestone 1
    assert lr[15:] == [0.0] * 6  # epochs 2, 3: only the query updater trains
    qu = [
        float(O.learning_rate(c, n, group="query_updater", epoch_steps=plan.steps_per_epoch))
        for n in (14, 15, 17, 18, 20)
    ]
    assert qu == pytest.approx([2e-5, 2e-5, 2e-5, 2e-6, 2e-6], rel=1e-6)
    # Under gradient accumulation (k = 2) update n is applied at batch 2n + 1: epoch 1 (batches
    # 9..14) starts with update 4 (batch 9), epoch 2 (batches 15..17) with update 7.
    np.testing.assert_array_equal(O.epoch_starts(plan.steps_per_epoch, 2), [0, 4, 7, 9])

    # The optimizer itself uses the same epochs.
    params = _toy_params(np.random.default_rng(0))
    tx = O.make_optimizer(c, params, epoch_steps=plan.steps_per_epoch)
    state = tx.init(params)
    grads = jax.tree.map(jnp.zeros_like, params)
    update = jax.jit(lambda state: tx.update(grads, state, params)[1])
    used = []
    for _ in range(16):
        state = update(state)
        used.append(float(O.current_lr(state)))
    assert used == pytest.approx(lr[:16], rel=1e-6)


def _toy_params(rng):
    """One leaf per group, named like the real model."""
    shapes = {
        ("detector", "backbone", "backbone", "backbone", "conv1", "kernel"): (3, 3, 2, 4),
        ("detector", "backbone", "backbone", "backbone", "layer2_0", "conv1", "kernel"): (4, 5),
        ("detector", "transformer", "reference_points", "kernel"): (5, 2),
        ("detector", "class_embed_0", "bias"): (3,),
        ("query_updater", "norm_emb", "scale"): (6,),
    }
    flat = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    return traverse_util.unflatten_dict(flat)


def test_adamw_groups_clipping_match_torch():
    """Three updates over an epoch boundary (milestone) against torch AdamW + clip_grad_norm_."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = _toy_params(rng)
    config = optim_config(lr_drop_milestones=(1,), only_train_query_updater_after=2)
    tx = O.make_optimizer(config, params, steps_per_epoch=2)
    grads_seq = [
        jax.tree.map(lambda p: rng.normal(size=p.shape).astype(np.float32), params)
        for _ in range(5)
    ]

    flat = traverse_util.flatten_dict(params)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in flat.items()}
    groups = {g: [] for g in ("backbone", "points", "query_updater", "other")}
    for k, p in tparams.items():
        g = O.group_of(official_name(k))
        if g == "frozen":
            p.requires_grad_(False)
        else:
            groups[g].append(p)
    o = config.optim
    lrs = {"backbone": o.lr_backbone, "points": o.lr_points}
    topt = torch.optim.AdamW(
        [{"params": ps, "lr": lrs.get(g, o.lr)} for g, ps in groups.items()],
        lr=o.lr,
        weight_decay=o.weight_decay,
    )
    sched = torch.optim.lr_scheduler.MultiStepLR(topt, milestones=[1], gamma=0.1)

    state = tx.init(params)
    ours = params
    norms = []
    for step, grads in enumerate(grads_seq):
        epoch = step // 2
        if epoch >= o.only_train_query_updater_after:  # the official loop
            for i, g in enumerate(groups):
                if g != "query_updater":
                    topt.param_groups[i]["lr"] = 0.0
        for k, p in tparams.items():
            p.grad = (
                None if not p.requires_grad else torch.tensor(traverse_util.flatten_dict(grads)[k])
            )
        norms.append(
            float(
                torch.nn.utils.clip_grad_norm_(
                    [p for p in tparams.values() if p.requires_grad], 0.1
                )
            )
        )
        torch_lr = topt.param_groups[3]["lr"]  # the official "lr" group
        topt.step()
        if step % 2 == 1:
            sched.step()
        updates, state = tx.update(grads, state, ours)
        ours = optax.apply_updates(ours, updates)
        for k, v in traverse_util.flatten_dict(ours).items():
            np.testing.assert_allclose(
                v, tparams[k].detach().numpy(), rtol=2e-6, atol=1e-9, err_msg=f"{step} {k}"
            )
        assert float(O.current_lr(state)) == pytest.approx(torch_lr, rel=1e-6)
    # The frozen stem never moved, the lr-0 groups stopped after epoch 2.
    frozen = ("detector", "backbone", "backbone", "backbone", "conv1", "kernel")
    np.testing.assert_array_equal(traverse_util.flatten_dict(ours)[frozen], flat[frozen])
    assert norms[0] > 0.1  # clipping was active


def test_frozen_gradients_do_not_count_in_the_clipping_norm():
    params = _toy_params(np.random.default_rng(1))
    tx = O.make_optimizer(
        optim_config(lr=1.0, weight_decay=0.0, lr_backbone=1.0, lr_points=1.0),
        params,
        steps_per_epoch=1,
    )
    grads = jax.tree.map(jnp.zeros_like, params)
    frozen = ("detector", "backbone", "backbone", "backbone", "conv1", "kernel")
    flat = traverse_util.flatten_dict(grads)
    flat[frozen] = jnp.full(flat[frozen].shape, 1e3)  # huge, but frozen
    key = ("detector", "class_embed_0", "bias")
    flat[key] = jnp.array([0.01, 0.0, 0.0])  # below the clipping norm: untouched
    # Replace the first-step Adam normalization by looking at the clipped gradient directly.
    clip = optax.chain(
        optax.masked(optax.set_to_zero(), O.frozen_mask(params)), O.clip_by_global_norm_torch(0.1)
    )
    clipped, _ = clip.update(traverse_util.unflatten_dict(flat), clip.init(params))
    clipped = traverse_util.flatten_dict(clipped)
    np.testing.assert_array_equal(clipped[frozen], 0.0)
    np.testing.assert_allclose(clipped[key], [0.01, 0.0, 0.0], rtol=1e-6)
    updates, _ = tx.update(traverse_util.unflatten_dict(flat), tx.init(params), params)
    assert not np.any(traverse_util.flatten_dict(updates)[frozen])


def test_gradient_accumulation_averages_micro_batches():
    params = _toy_params(np.random.default_rng(2))
    one = O.make_optimizer(optim_config(), params, steps_per_epoch=1)
    acc = O.make_optimizer(optim_config(accumulation_steps=2), params, steps_per_epoch=1)
    rng = np.random.default_rng(3)
    g1, g2 = (
        jax.tree.map(lambda p: rng.normal(size=p.shape).astype(np.float32), params)
        for _ in range(2)
    )
    s = acc.init(params)
    u1, s = acc.update(g1, s, params)
    assert not any(np.any(x) for x in jax.tree.leaves(u1))  # no update on the first micro-batch
    u2, s = acc.update(g2, s, params)
    expected, _ = one.update(
        jax.tree.map(lambda a, b: (a + b) / 2, g1, g2), one.init(params), params
    )
    for a, b in zip(jax.tree.leaves(u2), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12)
