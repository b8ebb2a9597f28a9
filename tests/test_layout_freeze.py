"""What must not move: parameter and buffer paths with shapes for every config, and the layout of
a converted checkpoint (`model.json` fields, the Orbax tree).

Checkpoints converted or trained by earlier code keep loading only while these stay the same.
The recorded layout is `tests/data/layout_freeze.json`; after a deliberate change of the layout,
regenerate it with `python tests/test_layout_freeze.py --write` and say so in the commit.
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys

import jax
import pytest
from flax import traverse_util

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
RECORD = REPO_ROOT / "tests" / "data" / "layout_freeze.json"
CONFIGS = sorted(
    p.stem for p in (REPO_ROOT / "configs").glob("*.py") if p.stem not in ("__init__", "common")
)


def _model_module():
    return importlib.import_module("sambamotr_jax.model")


def variable_layout(config) -> dict[str, list[int]]:
    """'collection/path/to/leaf' -> shape, for the variables `config.model` builds."""
    model_lib = _model_module()
    model = model_lib.build_model(config.model)
    shapes = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    flat = traverse_util.flatten_dict(
        jax.tree.map(lambda s: list(s.shape), shapes, is_leaf=lambda x: hasattr(x, "shape"))
    )
    return {"/".join(k): v for k, v in sorted(flat.items())}


def config_layout(name: str) -> dict:
    config = importlib.import_module(f"configs.{name}").get_config()
    return {
        "model_json_fields": sorted(traverse_util.flatten_dict(config.model.to_dict(), sep=".")),
        "variables": variable_layout(config),
    }


def checkpoint_layout(tmp_path: pathlib.Path) -> dict:
    """A tiny model saved as a converted checkpoint: its files and its Orbax tree."""
    import orbax.checkpoint as ocp

    config = importlib.import_module("configs.tiny").get_config()
    model_lib = _model_module()
    model = model_lib.build_model(config.model)
    variables = model_lib.init_variables(model, jax.random.key(0))
    saver = _checkpoint_module()
    out = saver.save_variables(tmp_path / "ckpt", variables, config.model.to_dict())
    with ocp.StandardCheckpointer() as ckptr:
        meta = ckptr.metadata(out / "variables")
    tree = getattr(meta, "item_metadata", meta)
    tree = getattr(tree, "tree", tree)
    flat = traverse_util.flatten_dict(
        jax.tree.map(lambda m: list(m.shape), dict(tree), is_leaf=lambda x: hasattr(x, "shape"))
    )
    return {
        "files": sorted(p.name for p in out.iterdir()),
        "model_json_fields": sorted(json.loads((out / "model.json").read_text())),
        "orbax_tree": {"/".join(k): v for k, v in sorted(flat.items())},
    }


def _checkpoint_module():
    return importlib.import_module("sambamotr_jax.weights.converted_checkpoint")


def current_layout(tmp_path: pathlib.Path) -> dict:
    """The record: each distinct variable layout once, configs naming the one they build."""
    configs, layouts = {}, {}
    for name in CONFIGS:
        layout = config_layout(name)
        key = next((k for k, v in layouts.items() if v == layout["variables"]), name)
        layouts.setdefault(key, layout["variables"])
        configs[name] = {"model_json_fields": layout["model_json_fields"], "variables": key}
    return {
        "configs": configs,
        "variable_layouts": layouts,
        "converted_checkpoint": checkpoint_layout(tmp_path),
    }


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(RECORD.read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_config_variables_unchanged(recorded, name):
    entry = recorded["configs"].get(name)
    assert entry is not None, f"configs/{name}.py is not recorded; regenerate {RECORD.name}"
    want = recorded["variable_layouts"][entry["variables"]]
    got = config_layout(name)
    assert got["model_json_fields"] == entry["model_json_fields"]
    missing = sorted(set(want) - set(got["variables"]))
    added = sorted(set(got["variables"]) - set(want))
    assert not missing and not added, f"missing {missing[:5]}, added {added[:5]}"
    reshaped = [k for k in want if want[k] != got["variables"][k]]
    assert not reshaped, f"shapes changed: {reshaped[:5]}"


def test_every_config_is_recorded(recorded):
    assert sorted(recorded["configs"]) == CONFIGS


def test_converted_checkpoint_layout_unchanged(recorded, tmp_path):
    assert checkpoint_layout(tmp_path) == recorded["converted_checkpoint"]


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_layout_freeze.py --write")
    sys.path.insert(0, str(REPO_ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        RECORD.write_text(json.dumps(current_layout(pathlib.Path(tmp)), indent=1) + "\n")
    print(f"wrote {RECORD}")
