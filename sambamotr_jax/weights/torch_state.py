"""Official PyTorch checkpoints -> Flax variables: safe reading and filling.

Official names map to our variable paths by the rule of `torch_names` (`flax_path`); a torch
``weight`` that becomes a ``kernel`` is transposed to Flax layout: Linear (O, I) -> (I, O), Conv2d
(O, I, kh, kw) -> (kh, kw, I, O), Conv1d (O, I, k) -> (k, I, O).

Leaves are looked up in every collection of the template (``params``, then ``buffers``).
Reading never executes code from the pickle: ``torch.load(weights_only=True)`` with only
``argparse.Namespace`` allowed beyond tensors and containers.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import re
from collections.abc import Mapping

import numpy as np
from flax import traverse_util

from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.weights.torch_names import flax_path

# Official keys that alias another key's tensor (stored once by the official code's weight
# tying); they are checked for equality with their canonical key and not written twice.
ALIASES: tuple[tuple[str, str], ...] = (("transformer.decoder.bbox_embed.", "bbox_embed."),)


def load_torch_checkpoint(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """Reads an official checkpoint's state dict as float32 NumPy arrays, without running pickle code.

    Accepts ``{'model': state_dict, ...}`` (official save layout) or a bare state dict.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file not found")
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the install
        raise InputError(
            "converting an official checkpoint needs PyTorch (CPU wheel): "
            "pip install -e '.[convert]'  (torch==2.13.0)"
        ) from e
    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            reason = _torch_load_reason(e)
            raise InputError(
                f"{path}: not a PyTorch checkpoint that loads safely (torch.load with "
                f"weights_only=True: {reason}); give an official .pth file (tensors, containers "
                "and argparse.Namespace only)"
            ) from e
    state = obj.get("model", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not state:
        raise InputError(f"{path}: expected a state dict or {{'model': state_dict}}")
    out: dict[str, np.ndarray] = {}
    for k, v in state.items():
        if not hasattr(v, "detach"):
            continue
        t = v.detach().cpu()
        out[k] = t.float().numpy() if t.is_floating_point() else t.numpy()
    return out


def _torch_load_reason(err: Exception) -> str:
    """The informative part of torch.load's (long, multi-paragraph) error message."""
    text = str(err)
    if "WeightsUnpickler error:" in text:  # a pickle holding more than tensors and containers
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].split(". ")[0] if lines else type(err).__name__


def _to_flax_layout(leaf: str, array: np.ndarray) -> np.ndarray:
    if leaf != "kernel":
        return array
    if array.ndim == 2:  # Linear (O, I) -> (I, O)
        return array.T
    if array.ndim == 4:  # Conv2d (O, I, kh, kw) -> (kh, kw, I, O)
        return array.transpose(2, 3, 1, 0)
    if array.ndim == 3:  # Conv1d (O, I, k) -> (k, I, O)
        return array.transpose(2, 1, 0)
    return array


@dataclasses.dataclass
class ConversionReport:
    """What a conversion did with every key: loud by design."""

    loaded: list[str] = dataclasses.field(default_factory=list)  # official keys written
    aliases: list[str] = dataclasses.field(default_factory=list)  # tied duplicates, checked
    unexpected: list[str] = dataclasses.field(default_factory=list)  # official keys with no home
    mis_shaped: list[str] = dataclasses.field(default_factory=list)  # 'key: ours vs theirs'
    missing: list[str] = dataclasses.field(default_factory=list)  # our leaves left at init

    def missing_except(self, patterns: list[str]) -> list[str]:
        """Missing leaves that no regular expression in ``patterns`` allows."""
        return [m for m in self.missing if not any(re.search(p, m) for p in patterns)]

    def format(self) -> str:
        lines = [
            f"loaded {len(self.loaded)} tensors ({len(self.aliases)} tied aliases checked)",
            f"missing ({len(self.missing)}): parameters left at their initialization",
            *(f"  missing    {m}" for m in self.missing),
            f"unexpected ({len(self.unexpected)}): checkpoint keys with no parameter",
            *(f"  unexpected {u}" for u in self.unexpected),
            f"mis-shaped ({len(self.mis_shaped)})",
            *(f"  mis-shaped {s}" for s in self.mis_shaped),
        ]
        return "\n".join(lines)


def fill_variables(
    state: Mapping[str, np.ndarray], template: Mapping[str, Mapping]
) -> tuple[dict, ConversionReport]:
    """Writes an official state dict into a copy of ``template`` (our model's variables).

    Args:
      state: official key -> array (PyTorch layout), e.g. from `load_torch_checkpoint`.
      template: ``{'params': ..., 'buffers': ...}`` from ``model.init`` (or ``jax.eval_shape``:
        only ``.shape`` and ``.dtype`` of the leaves are used for unfilled-leaf reporting).

    Returns:
      (variables, report): every template leaf replaced by the checkpoint's array where one maps
      to it; the others kept as in the template and listed in ``report.missing``.
    """
    flat = traverse_util.flatten_dict(template)  # (collection, *path) -> leaf
    by_module: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = {}
    for full in flat:  # module path -> leaf name -> full path, over all collections
        coll, *path = full
        by_module.setdefault(tuple(path[:-1]), {})[path[-1]] = full
    report = ConversionReport()
    out = dict(flat)
    filled: set[tuple[str, ...]] = set()
    for key, array in state.items():
        alias_of = next((canon + key[len(p) :] for p, canon in ALIASES if key.startswith(p)), None)
        if alias_of is not None and alias_of in state:
            if not np.array_equal(state[alias_of], array):
                report.mis_shaped.append(f"{key}: differs from its tied key {alias_of}")
            report.aliases.append(key)
            continue
        path = flax_path(key, by_module)
        if path is None:
            report.unexpected.append(key)
            continue
        target = by_module[path[:-1]][path[-1]]
        value = _to_flax_layout(target[-1], np.asarray(array))
        want = tuple(flat[target].shape)
        if value.shape != want:
            report.mis_shaped.append(f"{key}: checkpoint {value.shape} vs model {want}")
            continue
        out[target] = value.astype(np.dtype(flat[target].dtype))
        filled.add(target)
        report.loaded.append(key)
    report.missing = ["/".join(p) for p in flat if p not in filled]
    return traverse_util.unflatten_dict(out), report


# ---------------------------------------------------------------------------------------------
# COCO-pretrained Deformable-DETR / DAB-Deformable-DETR checkpoints -> official SambaMOTR keys,
# as the official `load_pretrained_model` renames them.

_COCO_PREFIXES = (
    ("backbone.0.body.", "backbone.backbone.backbone."),
    ("input_proj.", "feature_projs."),
)
_COCO_QUERIES = {
    "query_embed.weight": "det_query_embed",
    "tgt_embed.weight": "det_query_embed",
    "refpoint_embed.weight": "det_anchor",
}


def is_coco_detector_layout(state: Mapping[str, np.ndarray]) -> bool:
    """True for the upstream Deformable-DETR / DAB checkpoints (not a SambaMOTR/MeMOTR one)."""
    return any(k.startswith("backbone.0.body.") for k in state)


def coco_to_official(
    state: Mapping[str, np.ndarray], *, num_classes: int, category_id: int = 1
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Renames a COCO detector checkpoint into the official tracker's key layout.

    Class heads: with one class, row `category_id` of the 91 COCO classes (1 = person; 15 =
    bird for BFT); with several classes (BDD100K) the heads keep their fresh initialization,
    as the official loader does.

    Returns:
      (state dict in official layout, notes describing every non-trivial decision).
    """
    out: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for key, value in state.items():
        if key in _COCO_QUERIES:
            out[_COCO_QUERIES[key]] = value
            continue
        if key.startswith("class_embed.") or key.startswith("transformer.decoder.class_embed."):
            if num_classes == 1:
                out[key] = value[category_id : category_id + 1]
            else:
                notes.append(
                    f"{key}: COCO class head not used for {num_classes} classes (fresh init)"
                )
            continue
        for old, new in _COCO_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value
    if num_classes == 1:
        notes.append(f"class heads: COCO row {category_id} of {_class_rows(state)}")
    return out, notes


def _class_rows(state: Mapping[str, np.ndarray]) -> int:
    return next((v.shape[0] for k, v in state.items() if k.endswith("class_embed.0.bias")), 0)
