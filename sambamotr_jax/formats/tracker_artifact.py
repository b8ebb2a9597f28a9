"""The deployable tracker artifact: one zip file that `python -m sambamotr_jax.export` writes and
`python -m sambamotr_jax.serve` runs without the model code.

Members (stored uncompressed):

    manifest.json          format name and version, platforms, compute dtype, tracker settings,
                           frame sizes, capacities, the track state's arrays, one entry per
                           exported step
    steps/<Hp>x<Wp>_k<K>.bin
                           the jitted frame step for input size Hp x Wp and track capacity K,
                           serialized with `jax.export` (StableHLO, `Exported.serialize()`)
    weights.npz            the model variables, one array per '/'-joined parameter path; they are
                           arguments of every step, not constants baked into it

Every step has the signature

    step(weights: {path: array}, state: {name: array}, image (1, Hp, Wp, 3) float32,
         pad_mask (1, Hp, Wp) bool, orig_hw (2,) float32)
      -> (next state {name: array}, results {ids, labels, scores, boxes_xyxy, keep, overflow})

`manifest["dtype"]` is the detector's compute dtype ('float32' | 'bfloat16'): a bfloat16 step
casts inside, so its weights, inputs, state and results are float32 all the same.
`manifest["state"]` lists the state's arrays: per-slot ones (leading capacity axis) with their
per-slot shape, dtype and padding value, and scalars. This module only reads and writes the
container (numpy, json, zipfile); deserializing the steps is the runner's business.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile

import numpy as np

from sambamotr_jax.formats.errors import InputError

FORMAT = "sambamotr-jax tracker artifact"
VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"


def step_member(input_hw: tuple[int, int], capacity: int) -> str:
    """The zip member of the step for input size (Hp, Wp) and capacity K."""
    return f"steps/{input_hw[0]}x{input_hw[1]}_k{capacity}.bin"


@dataclasses.dataclass(frozen=True)
class TrackerArtifact:
    """A read artifact.

    Attributes:
      manifest: the parsed manifest.json.
      steps: (Hp, Wp, K) -> serialized `jax.export.Exported` bytes.
      weights: '/'-joined variable path -> array.
    """

    manifest: dict
    steps: dict[tuple[int, int, int], bytes]
    weights: dict[str, np.ndarray]


def write_artifact(
    path: str | os.PathLike,
    manifest: dict,
    steps: dict[tuple[int, int, int], bytes],
    weights: dict[str, np.ndarray],
) -> dict:
    """Writes the artifact (to a temporary name, renamed when complete); returns its manifest."""
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        **manifest,
        "steps": [
            {"input": [h, w], "capacity": k, "member": step_member((h, w), k)}
            for h, w, k in sorted(steps)
        ],
        "weights": WEIGHTS,
    }
    path = os.fspath(path)
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
        for (h, w, k), data in sorted(steps.items()):
            zf.writestr(step_member((h, w), k), bytes(data))
        buf = io.BytesIO()
        np.savez(buf, **weights)
        zf.writestr(WEIGHTS, buf.getvalue())
    os.replace(tmp, path)
    return manifest


def read_artifact(path: str | os.PathLike) -> TrackerArtifact:
    """Reads an artifact written by `write_artifact`.

    Raises:
      InputError: the file is missing, not a zip, or not an artifact of this format version.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: artifact file not found")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputError(f"{path}: not a tracker artifact (not a zip file)") from None
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            raise InputError(f"{path}: not a tracker artifact (no {MANIFEST})")
        manifest = json.loads(zf.read(MANIFEST))
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise InputError(
                f"{path}: {manifest.get('format')!r} version {manifest.get('version')}; "
                f"this runner reads {FORMAT!r} version {VERSION}: export it again"
            )
        steps = {}
        for entry in manifest["steps"]:
            if entry["member"] not in names:
                raise InputError(f"{path}: incomplete artifact, {entry['member']} is missing")
            steps[(*entry["input"], entry["capacity"])] = zf.read(entry["member"])
        with np.load(io.BytesIO(zf.read(manifest["weights"]))) as npz:
            weights = {name: npz[name] for name in npz.files}
    return TrackerArtifact(manifest=manifest, steps=steps, weights=weights)
