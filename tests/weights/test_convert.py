"""The converter against the official key lists: every SambaMOTR tensor has a home, and the COCO
detector checkpoints leave exactly the tracker-only parameters at init."""

import re

import jax
import numpy as np
import pytest
from flax import traverse_util

from configs import dancetrack, memotr_bdd100k, tiny
from sambamotr_jax import model as model_lib
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.weights import conversion, torch_state
from sambamotr_jax.weights.torch_names import official_name


def read_key_list(path):
    """'name [d0,d1] dtype' lines (comments skipped) -> {name: zeros of that shape}."""
    state = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, shape, _ = line.split()
        dims = [int(d) for d in re.findall(r"\d+", shape)]
        state[name] = np.zeros(dims, np.float32)
    return state


def config_for(use_dab, updater="samba"):
    c = dancetrack.get_config()
    c.model.use_dab = use_dab
    c.model.query_updater = updater
    return c


def template(config):
    model = model_lib.build_model(config.model)
    return jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))


@pytest.mark.parametrize(
    "keys, use_dab, updater",
    [
        ("sambamotr_def_detr_state_dict.txt", False, "samba"),
        ("sambamotr_dab_detr_state_dict.txt", True, "samba"),
        ("memotr_def_detr_state_dict.txt", False, "memotr"),
        ("memotr_dab_detr_state_dict.txt", True, "memotr"),
    ],
)
def test_official_layouts_convert_without_missing_or_unexpected(
    reference_dir, keys, use_dab, updater
):
    state = read_key_list(reference_dir / keys)
    _, report = torch_state.fill_variables(state, template(config_for(use_dab, updater)))
    assert report.unexpected == [] and report.mis_shaped == [] and report.missing == []
    assert len(report.loaded) + len(report.aliases) == len(state)


@pytest.mark.parametrize(
    "keys, use_dab, updater, n_init",
    [
        ("deformable_detr_r50_checkpoint_keys.txt", False, "samba", 156),
        ("dab_deformable_detr_r50_checkpoint_keys.txt", True, "samba", 150),
        ("deformable_detr_r50_checkpoint_keys.txt", False, "memotr", 38),
        ("dab_deformable_detr_r50_checkpoint_keys.txt", True, "memotr", 32),
    ],
)
def test_coco_layouts_leave_only_the_query_updater(reference_dir, keys, use_dab, updater, n_init):
    coco = read_key_list(reference_dir / keys)
    assert torch_state.is_coco_detector_layout(coco)
    state, notes = torch_state.coco_to_official(coco, num_classes=1)
    _, report = torch_state.fill_variables(state, template(config_for(use_dab, updater)))
    assert report.unexpected == [] and report.mis_shaped == []
    # The official loader leaves the same number of tensors at init, all in the query updater.
    assert len(report.missing) == n_init
    assert all(m.startswith("params/query_updater/") for m in report.missing)
    assert any("row 1" in n for n in notes)


def test_coco_class_rows_sliced_and_multiclass_heads_skipped():
    coco = {
        "backbone.0.body.conv1.weight": np.zeros((64, 3, 7, 7), np.float32),
        "class_embed.0.weight": np.arange(91 * 2, dtype=np.float32).reshape(91, 2),
        "class_embed.0.bias": np.arange(91, dtype=np.float32),
        "query_embed.weight": np.zeros((300, 512), np.float32),
    }
    state, _ = torch_state.coco_to_official(coco, num_classes=1, category_id=15)
    np.testing.assert_array_equal(state["class_embed.0.bias"], [15.0])
    assert "det_query_embed" in state and "backbone.backbone.backbone.conv1.weight" in state
    state, notes = torch_state.coco_to_official(coco, num_classes=8)
    assert "class_embed.0.bias" not in state
    assert any("fresh init" in n for n in notes)


def test_fixture_checkpoint_converts_and_cli_refuses_missing(def_detr_fixture, tmp_path):
    config = config_for(False)
    lines = []
    ok = conversion.convert(
        checkpoint=str(def_detr_fixture / "weights.pth"),
        config=config,
        output=str(tmp_path / "ckpt"),
        log=lines.append,
    )
    assert ok, "\n".join(lines)
    assert (tmp_path / "ckpt" / "model.json").is_file()
    # The DAB config does not fit a Deformable-DETR checkpoint: nothing is written.
    lines = []
    ok = conversion.convert(
        checkpoint=str(def_detr_fixture / "weights.pth"),
        config=config_for(True),
        output=str(tmp_path / "bad"),
        log=lines.append,
    )
    assert not ok and not (tmp_path / "bad").exists()
    assert any(line.startswith("error:") for line in lines)


def test_unsafe_pickle_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"model": Evil()}))
    with pytest.raises(InputError, match="weights_only"):
        torch_state.load_torch_checkpoint(path)


def test_cli_exit_codes(def_detr_fixture, tmp_path):
    import subprocess
    import sys

    base = [
        sys.executable,
        "-m",
        "sambamotr_jax.convert",
        f"--checkpoint={def_detr_fixture / 'weights.pth'}",
        "--config=configs/dancetrack.py",
    ]
    ok = subprocess.run(base + [f"--output={tmp_path / 'ok'}"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "missing (0)" in ok.stdout and "unexpected (0)" in ok.stdout
    bad = subprocess.run(
        base + ["--config.model.use_dab=True", f"--output={tmp_path / 'bad'}"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "error:" in bad.stdout
    assert not (tmp_path / "bad").exists()


# --------------------------------------------------------------------------------------------
# BDD100K: 8-way class heads.


def test_official_bdd100k_checkpoint_converts_with_its_8_way_class_heads(reference_dir):
    """The official MeMOTR BDD100K checkpoint is the DAB layout with num_classes 8: every
    class_embed.<i> is Linear(256, 8). All keys load, none is missing, the heads keep the values."""
    state = read_key_list(reference_dir / "memotr_dab_detr_state_dict.txt")
    rng = np.random.default_rng(0)
    heads = {}
    for key, value in list(state.items()):
        if key.startswith("class_embed."):
            assert value.shape in ((1, 256), (1,))  # the DanceTrack list: one class
            shape = (8, *value.shape[1:])
            state[key] = heads[key] = rng.normal(size=shape).astype(np.float32)
    assert len(heads) == 12  # 6 decoder levels x (weight, bias)
    config = memotr_bdd100k.get_config()
    variables, report, notes = conversion.convert_state(state, config)
    assert report.missing == [] and report.unexpected == [] and report.mis_shaped == []
    assert notes == []  # not the COCO layout
    detector = variables["params"]["detector"]
    for i in range(6):
        head = detector[f"class_embed_{i}"]
        assert head["kernel"].shape == (256, 8) and head["bias"].shape == (8,)
        np.testing.assert_array_equal(head["kernel"], heads[f"class_embed.{i}.weight"].T)
        np.testing.assert_array_equal(head["bias"], heads[f"class_embed.{i}.bias"])


def test_coco_dab_checkpoint_for_8_classes_leaves_the_class_heads_missing(reference_dir):
    """COCO DAB-Deformable-DETR into the BDD100K config: the 91-way heads are not used, so the
    report lists the 6 class heads (and the query updater) as missing and the notes say why."""
    coco = read_key_list(reference_dir / "dab_deformable_detr_r50_checkpoint_keys.txt")
    _, report, notes = conversion.convert_state(
        coco, memotr_bdd100k.get_config(), init_missing=False
    )
    assert report.unexpected == [] and report.mis_shaped == []
    heads = sorted(m for m in report.missing if not m.startswith("params/query_updater/"))
    assert heads == sorted(
        f"params/detector/class_embed_{i}/{leaf}" for i in range(6) for leaf in ("kernel", "bias")
    )
    assert len(report.missing) == 12 + 32  # + the MeMOTR query updater, as for one class
    fresh = [n for n in notes if "fresh init" in n]
    assert len(fresh) == 12 and all(n.startswith("class_embed.") for n in fresh)
    assert "missing (44)" in report.format()


def _torch_layout(path, leaf):
    """Our leaf (Flax layout) -> zeros of the official tensor's shape."""
    shape = tuple(leaf.shape)
    if path[-1] == "kernel":
        if len(shape) == 2:  # (I, O) -> (O, I)
            shape = shape[::-1]
        elif len(shape) == 4:  # (kh, kw, I, O) -> (O, I, kh, kw)
            shape = (shape[3], shape[2], shape[0], shape[1])
        elif len(shape) == 3:  # (k, I, O) -> (O, I, k)
            shape = (shape[2], shape[1], shape[0])
    return np.zeros(shape, np.float32)


@pytest.mark.slow  # one initialization of the tiny model (~10 s, longer on a loaded machine)
def test_coco_init_for_8_classes_keeps_the_fresh_class_heads():
    """A COCO-layout checkpoint of the tiny DAB model (91-way heads holding 7s, zeros elsewhere)
    converted for 8 classes: the class heads get a fresh initialization (the official prior bias
    and random kernels), everything else loads from the checkpoint."""
    config = tiny.get_config()
    config.model.use_dab = True
    config.model.num_classes = 8
    tmpl = template(config)
    renames = (
        ("backbone.backbone.backbone.", "backbone.0.body."),
        ("feature_projs.", "input_proj."),
    )
    queries = {"det_query_embed": "tgt_embed.weight", "det_anchor": "refpoint_embed.weight"}
    coco = {}
    for coll in tmpl.values():
        for path, leaf in traverse_util.flatten_dict(coll).items():
            if path[0] == "query_updater":
                continue  # a detector checkpoint
            name = official_name(path)
            name = queries.get(name, name)
            for old, new in renames:
                name = new + name[len(old) :] if name.startswith(old) else name
            value = _torch_layout(path, leaf)
            if name.startswith("class_embed."):
                value = np.full((91, *value.shape[1:]), 7.0, np.float32)
            coco[name] = value
    assert torch_state.is_coco_detector_layout(coco)
    variables, report, notes = conversion.convert_state(coco, config, seed=3)
    assert report.unexpected == [] and report.mis_shaped == []
    assert not [m for m in report.missing if "class_embed" not in m and "query_updater" not in m]
    assert any("fresh init" in n for n in notes)
    prior = -np.log((1 - 0.01) / 0.01)  # the official focal prior bias
    kernels = []
    for i in range(config.model.dec_layers):
        ours = variables["params"]["detector"][f"class_embed_{i}"]
        assert ours["kernel"].shape == (32, 8) and ours["bias"].shape == (8,)
        np.testing.assert_allclose(ours["bias"], np.full(8, prior), rtol=1e-6)
        kernels.append(np.asarray(ours["kernel"]))
    # Fresh random kernels (not the COCO 7s, not the checkpoint's zeros), one per level.
    assert all(0.0 < np.abs(k).max() < 1.0 for k in kernels)
    assert not np.array_equal(kernels[0], kernels[1])
    # The rest of the detector holds the checkpoint's zeros, not an initialization.
    embed = variables["params"]["detector"]["bbox_embed_0"]
    assert not any(np.any(np.asarray(x)) for x in jax.tree.leaves(embed))
