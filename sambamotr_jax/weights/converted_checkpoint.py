"""Converted-weight checkpoints: Orbax for the variables plus the model config they fit.

Layout of a checkpoint directory::

    DIR/variables/      Orbax StandardCheckpointer tree {'params': ..., 'buffers': ...}
    DIR/model.json      the `config.model` the variables were made for

Orbax writes into a temporary folder and renames it when complete, and `model.json` is written
(atomically) last, so a directory with `model.json` is always complete.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import traverse_util

VARIABLES = "variables"
MODEL_JSON = "model.json"


def _write_atomic(path: pathlib.Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def save_variables(directory: str | pathlib.Path, variables, model_config: dict) -> pathlib.Path:
    """Writes variables and the model config to `directory` (which must not hold a checkpoint)."""
    directory = pathlib.Path(directory).absolute()
    if (directory / MODEL_JSON).exists() or (directory / VARIABLES).exists():
        raise FileExistsError(f"{directory} already holds a checkpoint; choose a new --output")
    directory.mkdir(parents=True, exist_ok=True)
    variables = jax.tree.map(np.asarray, variables)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(directory / VARIABLES, variables)
        ckptr.wait_until_finished()
    _write_atomic(directory / MODEL_JSON, json.dumps(model_config, indent=1, sort_keys=True))
    return directory


def load_model_config(directory: str | pathlib.Path) -> dict:
    directory = pathlib.Path(directory)
    if not (directory / MODEL_JSON).is_file():
        raise FileNotFoundError(
            f"{directory} is not a converted checkpoint (no {MODEL_JSON}); make one with "
            "`python -m sambamotr_jax.convert --checkpoint=PATH.pth --config=CONFIG.py --output=DIR`"
        )
    return json.loads((directory / MODEL_JSON).read_text())


def config_mismatches(saved: dict, wanted: dict, prefix: str = "model") -> list[str]:
    """Fields whose values differ between two model configs (nested dicts), as readable lines."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key, "<absent>"), wanted.get(key, "<absent>")
        name = f"{prefix}.{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_mismatches(a, b, name)
        elif a != b:
            out.append(f"{name}: checkpoint has {a!r}, config has {b!r}")
    return out


# Fields that change no parameter shape and may differ between conversion and use.
RUNTIME_FIELDS = ("update_thresh", "ms_deform_attn_impl", "dtype", "long_memory_lambda")


def load_variables(directory: str | pathlib.Path, model_config: dict, template) -> dict:
    """Restores variables, checking they were made for this model config and fit `template`.

    Args:
      directory: a converted checkpoint directory.
      model_config: the `config.model` in use (as a dict).
      template: the model's variables or their `jax.eval_shape` (shapes to check against).
    """
    directory = pathlib.Path(directory)
    saved = load_model_config(directory)
    strip = lambda d: {k: v for k, v in d.items() if k not in RUNTIME_FIELDS}
    diffs = config_mismatches(strip(saved), strip(model_config))
    if diffs:
        raise ValueError(
            f"checkpoint {directory} does not fit the config:\n  "
            + "\n  ".join(diffs)
            + "\nUse the config it was converted with, or convert again with this config."
        )
    with ocp.StandardCheckpointer() as ckptr:
        restored = ckptr.restore((directory / VARIABLES).absolute())
    want = {p: tuple(x.shape) for p, x in traverse_util.flatten_dict(template).items()}
    have = {p: tuple(np.shape(x)) for p, x in traverse_util.flatten_dict(restored).items()}
    problems = [f"missing {'/'.join(p)}" for p in want if p not in have]
    problems += [f"unexpected {'/'.join(p)}" for p in have if p not in want]
    problems += [
        f"{'/'.join(p)}: checkpoint {have[p]} vs model {want[p]}"
        for p in want
        if p in have and have[p] != want[p]
    ]
    if problems:
        raise ValueError(
            f"checkpoint {directory} does not fit the model:\n  " + "\n  ".join(problems[:50])
        )
    return restored
