"""Conversion of official checkpoints into our variables (library behind `convert.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable

import jax

from sambamotr_jax import model as model_lib
from sambamotr_jax.weights import converted_checkpoint, torch_state


def convert_state(
    state: dict, config, *, category_id: int = 1, seed: int = 0, init_missing: bool = True
):
    """Official state dict (NumPy) -> (variables, report, notes) for `config.model`.

    Parameters the checkpoint does not provide keep a fresh initialization from `seed` (the
    model is only initialized when there are such parameters).
    """
    model = model_lib.build_model(config.model)
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(seed)))
    notes: list[str] = []
    if torch_state.is_coco_detector_layout(state):
        state, notes = torch_state.coco_to_official(
            state, num_classes=config.model.num_classes, category_id=category_id
        )
        notes.insert(0, "COCO detector checkpoint: keys renamed as the official loader does")
    variables, report = torch_state.fill_variables(state, template)
    if report.missing and init_missing:
        variables = fill_missing(variables, config, seed=seed)
    return variables, report, notes


def fill_missing(variables, config, *, seed: int = 0):
    """Replaces leaves still given as shapes (`jax.ShapeDtypeStruct`) by a fresh initialization."""
    model = model_lib.build_model(config.model)
    fresh = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(seed)))()
    return jax.tree.map(
        lambda v, f: f if isinstance(v, jax.ShapeDtypeStruct) else v, variables, fresh
    )


def convert(
    *,
    checkpoint: str,
    config,
    output: str,
    allow_missing: list[str] = (),
    allow_unexpected: list[str] = (),
    category_id: int = 1,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> bool:
    """Converts and writes `output`; returns False (writing nothing) when the weights don't fit."""
    state = torch_state.load_torch_checkpoint(checkpoint)
    variables, report, notes = convert_state(
        state, config, category_id=category_id, seed=seed, init_missing=False
    )
    for note in notes:
        log(f"note: {note}")
    log(report.format())
    missing = report.missing_except(list(allow_missing))
    unexpected = [
        u for u in report.unexpected if not any(re.search(p, u) for p in allow_unexpected)
    ]
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} parameters have no value in {checkpoint} "
            "(pass --allow-missing=REGEX to keep them at their initialization)"
        )
    if unexpected:
        problems.append(
            f"{len(unexpected)} checkpoint keys have no parameter: is the config right "
            "(e.g. --config.model.use_dab, --config.model.query_updater)? "
            "Pass --allow-unexpected=REGEX to ignore them"
        )
    if report.mis_shaped:
        problems.append(f"{len(report.mis_shaped)} keys do not fit their parameter's shape")
    if problems:
        for p in problems:
            log(f"error: {p}")
        return False
    if report.missing:
        variables = fill_missing(variables, config, seed=seed)
    converted_checkpoint.save_variables(output, variables, config.model.to_dict())
    log(f"wrote {output}")
    return True
