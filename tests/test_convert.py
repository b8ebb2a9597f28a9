"""The converter against the official key lists: every SambaMOTR tensor has a home, and the COCO
detector checkpoints leave exactly the tracker-only parameters at init."""

import re

import jax
import numpy as np
import pytest

from configs import dancetrack
from sambamotr_jax import convert_lib, torch_weights
from sambamotr_jax import model as model_lib


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
    _, report = torch_weights.fill_variables(state, template(config_for(use_dab, updater)))
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
    assert torch_weights.is_coco_detector_layout(coco)
    state, notes = torch_weights.coco_to_official(coco, num_classes=1)
    _, report = torch_weights.fill_variables(state, template(config_for(use_dab, updater)))
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
    state, _ = torch_weights.coco_to_official(coco, num_classes=1, category_id=15)
    np.testing.assert_array_equal(state["class_embed.0.bias"], [15.0])
    assert "det_query_embed" in state and "backbone.backbone.backbone.conv1.weight" in state
    state, notes = torch_weights.coco_to_official(coco, num_classes=8)
    assert "class_embed.0.bias" not in state
    assert any("fresh init" in n for n in notes)


def test_fixture_checkpoint_converts_and_cli_refuses_missing(def_detr_fixture, tmp_path):
    config = config_for(False)
    lines = []
    ok = convert_lib.convert(
        checkpoint=str(def_detr_fixture / "weights.pth"),
        config=config,
        output=str(tmp_path / "ckpt"),
        log=lines.append,
    )
    assert ok, "\n".join(lines)
    assert (tmp_path / "ckpt" / "model.json").is_file()
    # The DAB config does not fit a Deformable-DETR checkpoint: nothing is written.
    lines = []
    ok = convert_lib.convert(
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
    with pytest.raises(ValueError, match="weights_only"):
        torch_weights.load_torch_checkpoint(path)


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
