"""The name rule both ways: every variable path of the DanceTrack configs survives path ->
official name -> path, and every official key of the reference state dicts names a variable."""

from __future__ import annotations

import jax
import pytest
from flax import traverse_util

from configs import dancetrack, memotr_dancetrack
from sambamotr_jax import model as model_lib
from sambamotr_jax.weights.torch_names import flax_path, official_name, torch_key_to_path
from sambamotr_jax.weights.torch_state import ALIASES

# reference state dict -> (config module, use_dab)
REFERENCES = {
    "sambamotr_def_detr": (dancetrack, False),
    "sambamotr_dab_detr": (dancetrack, True),
    "memotr_def_detr": (memotr_dancetrack, False),
    "memotr_dab_detr": (memotr_dancetrack, True),
}


def leaves_by_module(config_module, use_dab: bool) -> dict[tuple[str, ...], set[str]]:
    """Module path -> leaf names, over the params and buffers the config builds."""
    config = config_module.get_config()
    config.model.use_dab = use_dab
    model = model_lib.build_model(config.model)
    shapes = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    out: dict[tuple[str, ...], set[str]] = {}
    for _, *path in traverse_util.flatten_dict(shapes):
        out.setdefault(tuple(path[:-1]), set()).add(path[-1])
    return out


@pytest.mark.parametrize("reference", sorted(REFERENCES))
def test_every_path_round_trips_through_its_official_name(reference):
    modules = leaves_by_module(*REFERENCES[reference])
    paths = [(*module, leaf) for module, leaves in modules.items() for leaf in leaves]
    assert len(paths) > 300
    assert [p for p in paths if flax_path(official_name(p), modules) != p] == []


@pytest.mark.parametrize("reference", sorted(REFERENCES))
def test_every_official_key_names_a_variable(reference, reference_dir):
    modules = leaves_by_module(*REFERENCES[reference])
    lines = (reference_dir / f"{reference}_state_dict.txt").read_text().splitlines()
    keys = [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]
    canonical = [k for k in keys if not any(k.startswith(alias) for alias, _ in ALIASES)]
    assert len(canonical) > 300 and len(canonical) < len(keys)  # the tied box heads are aliases
    assert [k for k in canonical if flax_path(k, modules) is None] == []
    assert all(official_name(flax_path(k, modules)) == k for k in canonical)


def test_indices_join_the_name_before_them():
    key = "query_updater.sequence_model.layers.3.mixer.self_attn_layers.0.q_proj_weight"
    assert torch_key_to_path(key) == (
        "query_updater",
        "sequence_model",
        "layers_3",
        "mixer",
        "self_attn_layers_0",
        "q_proj_weight",
    )
    assert torch_key_to_path("transformer.encoder.layers.0.norm1.weight")[:4] == (
        "detector",
        "transformer",
        "encoder",
        "layers_0",
    )
    path = ("detector", "transformer", "decoder", "layers_2", "norm1", "scale")
    assert official_name(path) == "transformer.decoder.layers.2.norm1.weight"
