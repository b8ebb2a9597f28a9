"""The rule between official PyTorch parameter names and our Flax variable paths, both ways.

The Flax modules are named after the official PyTorch attributes, so the names map by rule:

* our variables are ``{'params': {'detector': ..., 'query_updater': ...}, 'buffers': {...}}``;
  official names starting with ``query_updater.`` live in the ``query_updater`` subtree, every
  other name in ``detector``;
* a numeric component joins the name before it: ``layers.0.norm1`` <-> ``layers_0/norm1`` (the
  names Flax gives to list-valued submodules); several indices join in order (``a.0.1`` <->
  ``a_0_1``);
* a leaf keeps its name where the Flax module has a leaf of that name (raw ``nn.Parameter`` s
  such as ``det_query_embed``, ``A_log``, ``in_proj_weight``, frozen-BatchNorm buffers);
  otherwise torch's ``weight`` is Flax's ``kernel`` (Linear, Conv), ``scale`` (LayerNorm,
  GroupNorm) or ``embedding`` (nn.Embedding).

Paths here are within a collection (no ``params`` / ``buffers`` component).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

QUERY_UPDATER = "query_updater"
DETECTOR = "detector"
QUERY_UPDATER_PREFIX = QUERY_UPDATER + "."

# torch's `weight` under its Flax names, tried in this order.
_WEIGHT_LEAVES = ("weight", "kernel", "scale", "embedding")
_INDEXED = re.compile(r"(.+)_(\d+)")


def torch_key_to_path(key: str) -> tuple[str, ...]:
    """Official name -> (subtree, *module path, torch leaf name).

    ``transformer.encoder.layers.0.norm1.weight`` ->
    ('detector', 'transformer', 'encoder', 'layers_0', 'norm1', 'weight').
    """
    route = QUERY_UPDATER if key.startswith(QUERY_UPDATER_PREFIX) else DETECTOR
    if route == QUERY_UPDATER:
        key = key[len(QUERY_UPDATER_PREFIX) :]
    parts: list[str] = [route]
    for part in key.split("."):
        if part.isdigit() and len(parts) > 1:
            parts[-1] = f"{parts[-1]}_{part}"
        else:
            parts.append(part)
    return tuple(parts)


def leaf_candidates(torch_leaf: str) -> tuple[str, ...]:
    """Flax leaf names a torch leaf may have, in the order they are tried."""
    return _WEIGHT_LEAVES if torch_leaf == "weight" else (torch_leaf,)


def flax_path(
    key: str, leaves_by_module: Mapping[tuple[str, ...], Collection[str]]
) -> tuple[str, ...] | None:
    """Official name -> our variable path, given the leaf names of every module path.

    Args:
      key: an official parameter or buffer name.
      leaves_by_module: module path (e.g. ('detector', 'transformer', 'encoder', 'layers_0',
        'norm1')) -> the names of its leaves (e.g. {'scale', 'bias'}).

    Returns:
      The path of the leaf the official tensor belongs in, or None where there is none.
    """
    *module, leaf = torch_key_to_path(key)
    leaves = leaves_by_module.get(tuple(module), ())
    name = next((c for c in leaf_candidates(leaf) if c in leaves), None)
    return None if name is None else (*module, name)


def official_name(path: tuple[str, ...]) -> str:
    """Our variable path -> the official PyTorch name (the inverse of `flax_path`).

    ('detector', 'transformer', 'encoder', 'layers_0', 'self_attn', 'sampling_offsets', 'kernel')
    -> 'transformer.encoder.layers.0.self_attn.sampling_offsets.weight';
    ('query_updater', 'sequence_model', 'layers_0', 'mixer', 'A_log')
    -> 'query_updater.sequence_model.layers.0.mixer.A_log'.
    """
    route, *rest = path
    parts = [] if route == DETECTOR else [route]
    for i, part in enumerate(rest):
        if i == len(rest) - 1:
            parts.append("weight" if part in _WEIGHT_LEAVES else part)
            continue
        indices = []
        while m := _INDEXED.fullmatch(part):
            part, index = m.groups()
            indices.insert(0, index)
        parts.extend([part, *indices])
    return ".".join(parts)
