"""Gradient precision study: our training-step gradients in float32 and float64 vs the official ones.

Runs the official 3-frame training clip of a fixture (as tests/test_train_step_parity.py does)
through one jitted ``value_and_grad`` and caches every parameter's gradient norm (plus the stored
full gradients) in ``--cache``; ``compare`` prints, for every parameter whose relative error
exceeds a threshold, ours-f32 vs official, ours-f64 vs official and ours-f32 vs ours-f64.

    python tools/grad_precision.py run --fixture official_def_detr --dtype float32
    python tools/grad_precision.py run --fixture official_def_detr --dtype float64  # x64 replay
    python tools/grad_precision.py compare --fixture official_def_detr

The float64 replay enables ``jax_enable_x64`` and casts the converted weights and the images to
float64 (``ClipStepConfig.compute_dtype='float64'``), so the official float32 gradients can be
placed against (nearly) exact arithmetic: official-vs-f64 is the official float32 rounding noise,
ours-f32-vs-f64 ours.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
K = 12  # track capacity, as tests/test_train_step_parity.py
M = 8  # object capacity


def _load_weights(root: pathlib.Path, extra: list[pathlib.Path], torch_weights) -> dict:
    """The fixture's official state dict: weights.pth, or npz parts (for copies of the fixture)."""
    if (root / "weights.pth").exists():
        return torch_weights.load_torch_checkpoint(root / "weights.pth")
    state = {}
    for path in extra:
        with np.load(path) as z:
            state.update({k: z[k].astype(np.float32) for k in z.files})
    return state


def _run(
    fixture: str, dtype: str, cache: pathlib.Path, root: pathlib.Path, parts: list[pathlib.Path]
) -> None:
    if dtype == "float64":
        os.environ["JAX_ENABLE_X64"] = "1"
    sys.path.insert(0, str(ROOT))
    import jax
    import jax.numpy as jnp
    from flax import traverse_util

    from configs import dancetrack, memotr_dancetrack
    from sambamotr_jax import convert_lib, torch_weights
    from sambamotr_jax import criterion as C
    from sambamotr_jax import model as model_lib
    from sambamotr_jax import optimizer as O
    from sambamotr_jax import train_step as TS

    configs = {"official_def_detr": dancetrack, "official_memotr_dab_detr": memotr_dancetrack}
    meta = json.loads((root / "meta.json").read_text())
    config = configs[fixture].get_config()
    config.model.update_thresh = meta["training"]["UPDATE_THRESH"]
    variables, report, _ = convert_lib.convert_state(
        _load_weights(root, parts, torch_weights), config
    )
    assert report.missing == [] and report.unexpected == []
    model = model_lib.build_model(config.model)
    z = np.load(root / "train_clip.npz")
    num_frames = meta["training"]["n_frames"]
    images = z["images"].transpose(0, 2, 3, 1)  # (T, 3, H, W) -> (T, H, W, 3)
    batch = {
        "images": images.astype(dtype),
        "pad_mask": np.zeros(images.shape[:3], bool),
        "ids": np.full((num_frames, M), -1, np.int32),
        "labels": np.zeros((num_frames, M), np.int32),
        "boxes": np.full((num_frames, M, 4), 0.25, np.float32),
        "obj_mask": np.zeros((num_frames, M), bool),
    }
    for t in range(num_frames):
        n = len(z[f"f{t}/gt_ids"])
        batch["ids"][t, :n] = z[f"f{t}/gt_ids"]
        batch["labels"][t, :n] = z[f"f{t}/gt_labels"]
        batch["boxes"][t, :n] = z[f"f{t}/gt_boxes_cxcywh"]
        batch["obj_mask"][t, :n] = True
    batch["boxes"] = batch["boxes"].astype(dtype)
    cfg = TS.ClipStepConfig(
        track_capacity=K,
        criterion=C.CriterionConfig(update_threshold=config.model.update_thresh),
        compute_dtype=dtype,
    )
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype), variables["params"])
    buffers = jax.tree.map(lambda x: jnp.asarray(x, dtype), variables["buffers"])

    def loss_fn(p):
        total, metrics, _ = TS.clip_forward(model, p, buffers, batch, jax.random.key(0), cfg)
        return total, metrics

    start = time.time()
    (total, _), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
    total = float(total)
    flat = traverse_util.flatten_dict(grads)
    out = {"loss": np.float64(total)}
    for path, g in flat.items():
        g = np.asarray(g, np.float64)
        name = O.official_name(path)
        out[f"norm/{name}"] = np.float64(np.linalg.norm(g))
        if path[-1] == "kernel":  # Flax layout; store as is, compare by norm or after transpose
            out[f"leaf_kernel/{name}"] = np.int8(1)
        if f"grad/{name}" in z.files or any(
            k.startswith("grad/") and _canonical(k[5:], torch_weights) == name for k in z.files
        ):
            out[f"grad/{name}"] = g
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(cache / f"{fixture}_{dtype}.npz", **out)
    print(f"{fixture} {dtype}: loss {total:.8g}, {time.time() - start:.0f} s")


def _canonical(name: str, torch_weights) -> str:
    for alias, canon in torch_weights.ALIASES:
        if name.startswith(alias):
            return canon + name[len(alias) :]
    return name


def _compare(fixture: str, cache: pathlib.Path, threshold: float, small_threshold: float) -> None:
    sys.path.insert(0, str(ROOT))
    from sambamotr_jax import torch_weights

    official = json.loads((SHARED / "fixtures" / fixture / "train_losses.json").read_text())
    runs = {d: np.load(cache / f"{fixture}_{d}.npz") for d in ("float32", "float64")}
    total = official["total_grad_norm_before_clip"]
    totals = {
        d: np.sqrt(sum(r[k] ** 2 for k in r.files if k.startswith("norm/")))
        for d, r in runs.items()
    }
    print(f"{fixture}: loss official {official['total_loss']:.8g}", end="")
    print("".join(f", {d} {float(r['loss']):.8g}" for d, r in runs.items()))
    print(
        f"total grad norm: official {total:.7g}, f32 {totals['float32']:.7g} "
        f"({abs(totals['float32'] / total - 1):.1e}), f64 {totals['float64']:.7g} "
        f"(official {abs(total / totals['float64'] - 1):.1e}, "
        f"f32 {abs(totals['float32'] / totals['float64'] - 1):.1e} from f64)"
    )
    rows = []
    for name, value in official["grad_norms"].items():
        key = f"norm/{_canonical(name, torch_weights)}"
        f32, f64 = float(runs["float32"][key]), float(runs["float64"][key])
        limit = small_threshold if value < 1e-3 * total else threshold
        errs = (abs(f32 / value - 1), abs(value / f64 - 1), abs(f32 / f64 - 1))
        if errs[0] > limit or errs[2] > limit:
            rows.append((name, value / total, *errs))
    print(f"{'parameter':78s} {'norm/total':>10s} {'f32-off':>8s} {'off-f64':>8s} {'f32-f64':>8s}")
    for name, frac, a, b, c in rows:
        print(f"{name:78s} {frac:10.2e} {a:8.1e} {b:8.1e} {c:8.1e}")
    # Worst per group: f32-off = ours vs official, off-f64 = the official float32 rounding
    # (official vs our float64 replay), f32-f64 = our float32 rounding.
    for group in ("large", "small"):
        for column in range(3):
            worst = max(_errors(official, runs, total, group, column, torch_weights))
            label = ("f32-off", "off-f64", "f32-f64")[column]
            print(f"worst {group} {label}: {worst[0]:.2e} ({worst[1]})")


def _errors(official, runs, total, group, column, torch_weights):
    """(relative error, name) of every official parameter of a group (large: norm >= 1e-3 of
    the total) for one column of the table."""
    for name, value in official["grad_norms"].items():
        if (value < 1e-3 * total) != (group == "small"):
            continue
        key = f"norm/{_canonical(name, torch_weights)}"
        f32, f64 = float(runs["float32"][key]), float(runs["float64"][key])
        yield (abs(f32 / value - 1), abs(value / f64 - 1), abs(f32 / f64 - 1))[column], name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("run", "compare"))
    parser.add_argument("--fixture", default="official_def_detr")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--cache", default="/tmp/gradprec", type=pathlib.Path)
    parser.add_argument("--fixture-dir", type=pathlib.Path, help="default ../shared/fixtures/NAME")
    parser.add_argument("--weights-npz", type=pathlib.Path, nargs="*", default=[])
    parser.add_argument("--threshold", default=1e-3, type=float)
    parser.add_argument("--small-threshold", default=1e-2, type=float)
    args = parser.parse_args()
    if args.mode == "run":
        root = args.fixture_dir or SHARED / "fixtures" / args.fixture
        _run(args.fixture, args.dtype, args.cache, root, args.weights_npz)
    else:
        _compare(args.fixture, args.cache, args.threshold, args.small_threshold)


if __name__ == "__main__":
    main()
