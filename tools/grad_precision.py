"""Gradient precision study: our training-step gradients in float32 and float64 vs the official ones.

Runs the official 3-frame training clip of a fixture (as tests/training/test_train_step_parity.py does)
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

Mixed runs (``--tag``; x64 on, float32 tracks between frames) bisect where a float32 difference
comes from: the detector and the query updater each in float32 or float64, the detector's
forward values from one precision with the gradient of the other (``--detector-split``), or a
float64 run whose detector outputs get a random relative perturbation (``--perturb``):

    python tools/grad_precision.py run --tag d32u64 --detector-dtype float32 --updater-dtype float64
    python tools/grad_precision.py run --tag f64b32 --detector-split fwd64-bwd32
    python tools/grad_precision.py run --tag p1e-5 --detector-dtype float64 \
        --updater-dtype float64 --perturb 1e-5
    python tools/grad_precision.py compare --extra d32u64 f64b32 p1e-5

``compare --extra`` adds, for the query-updater parameters, each run's error against the float64
replay and against the official norms. ``kinks`` records the input of every ReLU of the updater
and of the decoder FFNs (detector in ``--dtype``, updater in float64) and ``compare-kinks``
lists the units whose sign differs between the float32 and float64 records:

    python tools/grad_precision.py kinks --dtype float32
    python tools/grad_precision.py kinks --dtype float64
    python tools/grad_precision.py compare-kinks
    python tools/grad_precision.py run --tag forced --force-kinks  # those units on their f64 side
 docs/design.md ("Gradient parity and float32") has the
measured table and what it shows.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the parity tests' fixture readers
from official_fixture import OUTPUT_KEYS, training_batch  # noqa: E402

SHARED = ROOT.parent / "shared"
K = 12  # track capacity, as tests/training/test_train_step_parity.py
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


class _MixedPrecision:
    """Stands in for the model in `train_step._frame`: runs `detect` and the updater methods
    in chosen precisions (inputs and variables cast, outputs cast to the tracks' dtype).

    ``detector_split`` 'fwd64-bwd32' gives the float64 detector's values with the float32
    detector's gradient (``d32 + stop_gradient(d64 - d32)``), 'fwd32-bwd64' the reverse.
    ``perturb`` multiplies every float detector output by ``1 + perturb * N(0, 1)``.
    ``official`` (from `_official_values`) replaces the values (not the gradient) of the
    detector's track inputs and of its outputs by the official run's (train_clip.npz).
    """

    def __init__(
        self, model, detector_dtype, updater_dtype, out_dtype, split, perturb, seed, official=None
    ):
        self.model = model
        self.official = official
        self.detector_dtype = detector_dtype
        self.updater_dtype = updater_dtype
        self.out_dtype = out_dtype
        self.split = split
        self.perturb = perturb
        self.seed = seed

    def __getattr__(self, name):
        return getattr(self.model, name)

    def _apply(self, dtype, variables, args, method, kwargs):
        import jax.numpy as jnp

        from sambamotr_jax.model import cast_floats

        dtype = jnp.dtype(dtype)
        out = self.model.apply(
            cast_floats(variables, dtype), *cast_floats(args, dtype), method=method, **kwargs
        )
        return cast_floats(out, jnp.float64) if self.split else out

    def apply(self, variables, *args, method, **kwargs):
        import jax
        import jax.numpy as jnp

        from sambamotr_jax.model import cast_floats

        if method != "detect":
            out = self._apply(self.updater_dtype, variables, args, method, kwargs)
            return cast_floats(out, self.out_dtype)
        if self.official is not None:
            args = _official_inputs(self.official, args)
        if self.split:
            d32 = self._apply("float32", variables, args, method, kwargs)
            d64 = self._apply("float64", variables, args, method, kwargs)
            values, grads = (d64, d32) if self.split == "fwd64-bwd32" else (d32, d64)
            out = jax.tree.map(
                lambda v, g: g + jax.lax.stop_gradient(v - g) if v.dtype == jnp.float64 else v,
                values,
                grads,
            )
        else:
            out = self._apply(self.detector_dtype, variables, args, method, kwargs)
        if self.perturb:
            leaves, treedef = jax.tree.flatten(out)
            keys = jax.random.split(jax.random.key(self.seed), len(leaves))
            leaves = [
                x * (1 + self.perturb * jax.random.normal(k, x.shape, x.dtype))
                if jnp.issubdtype(x.dtype, jnp.floating)
                else x
                for x, k in zip(leaves, keys, strict=True)
            ]
            out = jax.tree.unflatten(treedef, leaves)
        if self.official is not None:
            out = _official_outputs(self.official, args[4], out)
        return cast_floats(out, self.out_dtype)


# Official outputs whose values `--official-values` substitutes: OUTPUT_KEYS (ours -> npz name).
_LAYERED = ("aux_pred_logits", "aux_pred_boxes")  # (layers, [B,] rows, ...)


def _official_values(z, num_frames: int, num_queries: int) -> dict:
    """The official run's per-frame values, zero-padded to our rows: (T, rows, ...) arrays,
    aux outputs (T, layers, rows, ...), plus the live track count of each frame."""

    def pad(a, rows):
        a = np.asarray(a, np.float64)
        return np.concatenate([a, np.zeros((rows - len(a), *a.shape[1:]))])

    values = {}
    for ours, name in OUTPUT_KEYS.items():
        frames = [z[f"f{t}/{name}"] for t in range(num_frames)]
        if ours in _LAYERED:
            values[ours] = np.stack([np.stack([pad(a, num_queries) for a in f]) for f in frames])
        else:
            values[ours] = np.stack([pad(f, num_queries) for f in frames])
    k = num_queries - len(z["f0/outputs"])
    values["track_query_embed"] = np.stack(
        [pad(z[f"f{t}/in_query_embed"], k) for t in range(num_frames)]
    )
    values["track_ref_pts"] = np.stack([pad(z[f"f{t}/in_ref_pts"], k) for t in range(num_frames)])
    values["num_tracks"] = np.array([len(z[f"f{t}/in_ids"]) for t in range(num_frames)])
    return values


def _official_frame(official: dict, track_mask):
    """Index of the frame being run (frames differ in their live track count)."""
    import jax.numpy as jnp

    live = jnp.sum(track_mask)
    return jnp.argmax(jnp.asarray(official["num_tracks"]) == live)


def _replace_values(x, value, mask):
    """x's gradient with `value`'s values where mask (broadcast) holds."""
    import jax
    import jax.numpy as jnp

    value = value.astype(x.dtype)
    return jnp.where(mask, x + jax.lax.stop_gradient(value - x), x)


def _official_inputs(official: dict, args: tuple) -> tuple:
    """detect's (images, pad_mask, track_query_embed, track_ref_pts, track_mask) with the
    official track queries' values."""
    images, pad_mask, query, ref, track_mask = args
    frame = _official_frame(official, track_mask)
    live = track_mask[..., None]
    query = _replace_values(query, official["track_query_embed"][frame][None], live)
    ref = _replace_values(ref, official["track_ref_pts"][frame][None], live)
    return images, pad_mask, query, ref, track_mask


def _official_outputs(official: dict, track_mask, out: dict) -> dict:
    """detect's outputs (B = 1) with the official values on the official's rows."""
    import jax.numpy as jnp

    frame = _official_frame(official, track_mask)
    num_det = official["outputs"].shape[1] - track_mask.shape[1]
    rows = jnp.arange(official["outputs"].shape[1]) < num_det + jnp.sum(track_mask)
    out = dict(out)
    for name in OUTPUT_KEYS:
        x = out[name]
        if name in _LAYERED:  # (layers, B, rows, ...)
            value = official[name][frame][:, None]
            mask = rows.reshape((1, 1, -1) + (1,) * (x.ndim - 3))
        else:  # (B, rows, ...)
            value = official[name][frame][None]
            mask = rows.reshape((1, -1) + (1,) * (x.ndim - 2))
        out[name] = _replace_values(x, value, mask)
    return out


def _run(
    fixture: str,
    dtype: str,
    cache: pathlib.Path,
    root: pathlib.Path,
    parts: list[pathlib.Path],
    mixed: argparse.Namespace | None = None,
    kinks: bool = False,
) -> None:
    if dtype == "float64" or mixed is not None or kinks:
        os.environ["JAX_ENABLE_X64"] = "1"
    sys.path.insert(0, str(ROOT))
    import jax
    import jax.numpy as jnp
    from flax import traverse_util

    from configs import dancetrack, memotr_dancetrack
    from sambamotr_jax import model as model_lib
    from sambamotr_jax.training import clip_step as TS
    from sambamotr_jax.training import criterion as C
    from sambamotr_jax.weights import conversion
    from sambamotr_jax.weights import torch_state as torch_weights
    from sambamotr_jax.weights.torch_names import official_name

    configs = {"official_def_detr": dancetrack, "official_memotr_dab_detr": memotr_dancetrack}
    meta = json.loads((root / "meta.json").read_text())
    config = configs[fixture].get_config()
    config.model.update_thresh = meta["training"]["UPDATE_THRESH"]
    variables, report, _ = conversion.convert_state(
        _load_weights(root, parts, torch_weights), config
    )
    assert report.missing == [] and report.unexpected == []
    model = model_lib.build_model(config.model)
    z = np.load(root / "train_clip.npz")
    num_frames = meta["training"]["n_frames"]
    batch = training_batch(z, num_frames, M, dtype)
    if kinks:
        _record_kinks(
            model, variables, batch, dtype, config, cache / f"{fixture}_kinks_{dtype}.npz"
        )
        return
    cache_name = f"{fixture}_{dtype}"
    if mixed is not None:
        # float32 tracks between frames, except for the perturbed all-float64 run.
        exact = mixed.perturb and "float32" not in (mixed.detector_dtype, mixed.updater_dtype)
        dtype = "float64" if exact else "float32"
        model = _MixedPrecision(
            model,
            mixed.detector_dtype,
            mixed.updater_dtype,
            jnp.dtype(dtype),
            mixed.detector_split,
            mixed.perturb,
            mixed.seed,
            jax.tree.map(
                jnp.asarray, _official_values(z, num_frames, model.detector.n_det_queries + K)
            )
            if mixed.official_values
            else None,
        )
        if mixed.force_kinks:
            model = _ForcedKinks(
                *model.__dict__["args"],
                flips=_kink_flips(fixture, cache),
                num_tracks=[len(z[f"f{t}/in_ids"]) for t in range(num_frames)],
                rows=model.detector.n_det_queries + K,
                ffn_dim=model.detector.ffn_dim,
            )
            _patch_relus(model.relu)
        cache_name = f"{fixture}_{mixed.tag}"
    cfg = TS.ClipStepConfig(
        track_capacity=K,
        criterion=C.CriterionConfig(update_threshold=config.model.update_thresh),
        compute_dtype=dtype,
    )
    param_dtype = "float64" if mixed is not None else dtype
    params = jax.tree.map(lambda x: jnp.asarray(x, param_dtype), variables["params"])
    buffers = jax.tree.map(lambda x: jnp.asarray(x, param_dtype), variables["buffers"])

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
        name = official_name(path)
        out[f"norm/{name}"] = np.float64(np.linalg.norm(g))
        if path[-1] == "kernel":  # Flax layout; store as is, compare by norm or after transpose
            out[f"leaf_kernel/{name}"] = np.int8(1)
        if f"grad/{name}" in z.files or any(
            k.startswith("grad/") and _canonical(k[5:], torch_weights) == name for k in z.files
        ):
            out[f"grad/{name}"] = g
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(cache / f"{cache_name}.npz", **out)
    print(f"{cache_name}: loss {total:.8g}, {time.time() - start:.0f} s")


def _record_kinks(model, variables, batch, dtype, config, path: pathlib.Path) -> None:
    """Saves the input of every ReLU of the query updater and of the decoder FFNs (layers 1..,
    which see the track queries), frame by frame, with the detector in `dtype` and the updater
    in float64 (float32 tracks between frames), for `_compare_kinks`."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from sambamotr_jax.detector.deformable_detr import (
        deformable_encoder,  # the decoder FFNs use its `relu`
    )
    from sambamotr_jax.training import clip_step as TS
    from sambamotr_jax.training import criterion as C

    recorded, state = {}, {"updater": False, "frame": 0, "call": 0}
    rows = model.detector.n_det_queries + K
    relus = {nn: nn.relu, deformable_encoder: deformable_encoder.relu}

    def recording(relu):
        return lambda x: record(x, relu)

    def record(x, relu):
        decoder_ffn = x.ndim == 3 and x.shape[1:] == (rows, model.detector.ffn_dim)
        if state["updater"] or decoder_ffn:
            state["call"] += 1
            tag = f"f{state['frame']}/{state['call']:02d}/{'updater' if state['updater'] else 'decoder'}"
            jax.debug.callback(lambda v, tag=tag: recorded.__setitem__(tag, np.asarray(v)), x)
        return relu(x)

    class Recording(_MixedPrecision):
        def apply(self, variables, *args, method, **kwargs):
            state["updater"] = method == "update_queries"
            if state["updater"]:  # the kept tracks: live slots of the update
                tag = f"f{state['frame']}/live"
                jax.debug.callback(lambda v: recorded.__setitem__(tag, np.asarray(v)), args[6])
            try:
                return super().apply(variables, *args, method=method, **kwargs)
            finally:
                state["updater"] = False

    for module, relu in relus.items():
        module.relu = recording(relu)
    try:
        proxy = Recording(model, dtype, "float64", jnp.float32, None, 0.0, 0)
        cfg = TS.ClipStepConfig(
            track_capacity=K,
            criterion=C.CriterionConfig(update_threshold=config.model.update_thresh),
        )
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), variables["params"])
        buffers = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), variables["buffers"])
        frames = {k: jnp.asarray(v)[:, None] for k, v in batch.items()}  # (T, B=1, ...)
        keys = jax.random.split(jax.random.key(0), len(batch["images"]))
        tracks = TS.empty_tracks(model, 1, K)
        for t in range(len(keys)):
            state["frame"], state["call"] = t, 0
            frame = {k: v[t] for k, v in frames.items()}
            step = jax.jit(
                lambda tr, fr, key: TS._frame(proxy, params, buffers, tr, fr, key, cfg, True)
            )
            tracks, _ = jax.block_until_ready(step(tracks, frame, keys[t]))
    finally:
        for module, relu in relus.items():
            module.relu = relu
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **recorded)
    print(f"{path}: {len(recorded)} arrays")


def _kink_flips(fixture: str, cache: pathlib.Path, verbose: bool = False) -> dict:
    """ReLU units whose input changes sign between the detector-float32 and -float64 records
    (live rows only: detections and live tracks in the decoder, kept tracks in the updater).

    Returns {(frame, call): [(index into the ReLU's input, float64 side is positive)]}, call =
    the ReLU's number in the frame's order (decoder FFNs 1.., then the updater's).
    """
    a, b = (np.load(cache / f"{fixture}_kinks_{d}.npz") for d in ("float32", "float64"))
    z = np.load(SHARED / "fixtures" / fixture / "train_clip.npz")
    total, flipped = 0, {}
    for tag in sorted(k for k in a.files if not k.endswith("/live")):
        frame = tag.split("/")[0]
        x, y = np.squeeze(a[tag]), np.squeeze(b[tag])
        if tag.endswith("decoder"):  # (rows, d_ffn): detections, then track slots
            live = x.shape[0] - K + len(z[f"{frame}/in_ids"])
            x, y, what = x[:live], y[:live], "decoder FFN"
        else:  # (K, F) or the sync FFN (d_ffn, K, d_inner): keep the kept tracks
            kept = np.squeeze(b[f"{frame}/live"]).astype(bool)
            axis = 1 if x.ndim == 3 else 0
            x, y = np.compress(kept, x, axis), np.compress(kept, y, axis)
            what = "sync FFN" if x.ndim == 3 else "updater MLP"
        flips = np.argwhere((x > 0) != (y > 0))
        total += len(flips)
        if len(flips):
            lead = (0,) * (a[tag].ndim - x.ndim)  # the decoder's batch axis
            flipped[int(frame[1:]), int(tag.split("/")[1])] = [
                (lead + tuple(int(j) for j in i), bool(y[tuple(i)] > 0)) for i in flips
            ]
            where = ", ".join(f"{i.tolist()} ({y[tuple(i)]:.1e})" for i in flips[:4])
            if verbose:
                print(f"{tag:22s} {what:12s} {x.size:8d} units, {len(flips)} flipped: {where}")
    if verbose:
        print(f"{total} ReLU units change sign (index, float64 input)")
    return flipped


def _compare_kinks(fixture: str, cache: pathlib.Path) -> None:
    _kink_flips(fixture, cache, verbose=True)


def _patch_relus(relu_with_original) -> None:
    """Routes `flax.linen.relu` (updater) and the FFNs' `lean_ops.relu` (through
    `deformable_encoder`) through ``relu_with_original(x, original)`` for this process."""
    import flax.linen as nn

    from sambamotr_jax.detector.deformable_detr import deformable_encoder

    for module in (nn, deformable_encoder):
        module.relu = functools.partial(_patched_relu, relu_with_original, module.relu)


def _patched_relu(relu_with_original, original, x):
    return relu_with_original(x, original)


class _ForcedKinks(_MixedPrecision):
    """`_MixedPrecision` whose ReLUs listed by `_kink_flips` take their float64 side (identity
    or zero, value and gradient); the frame is told by its live track count (`num_tracks`)."""

    def __init__(self, *args, flips: dict, num_tracks, rows: int, ffn_dim: int):
        super().__init__(*args)
        self.__dict__.update(
            flips=flips,
            num_tracks=num_tracks,
            shape=(rows, ffn_dim),
            state={"call": 0, "frame": None, "updater": False},
        )

    def relu(self, x, relu):
        import jax.numpy as jnp

        state = self.state
        if not (state["updater"] or (x.ndim == 3 and x.shape[1:] == self.shape)):
            return relu(x)
        state["call"] += 1
        y = relu(x)
        for (frame, call), units in self.flips.items():
            if call == state["call"]:
                on, off = np.zeros(x.shape, bool), np.zeros(x.shape, bool)
                for index, positive in units:
                    (on if positive else off)[index] = True
                here = state["frame"] == frame
                y = jnp.where(here & on, x, jnp.where(here & off, 0.0, y))
        return y

    def apply(self, variables, *args, method, **kwargs):
        import jax.numpy as jnp

        if method == "detect":
            self.state["call"] = 0
            live = jnp.sum(args[4])
            self.state["frame"] = jnp.argmax(jnp.asarray(self.num_tracks) == live)
        self.state["updater"] = method == "update_queries"
        try:
            return super().apply(variables, *args, method=method, **kwargs)
        finally:
            self.state["updater"] = False


def _canonical(name: str, torch_weights) -> str:
    for alias, canon in torch_weights.ALIASES:
        if name.startswith(alias):
            return canon + name[len(alias) :]
    return name


def _compare(
    fixture: str,
    cache: pathlib.Path,
    threshold: float,
    small_threshold: float,
    extra: list[str] | None = None,
) -> None:
    sys.path.insert(0, str(ROOT))
    from sambamotr_jax.weights import torch_state as torch_weights

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
    if extra:
        _compare_extra(
            official,
            runs["float64"],
            total,
            [(t, np.load(cache / f"{fixture}_{t}.npz")) for t in extra],
            torch_weights,
        )


def _compare_extra(official, f64, total, extra, torch_weights) -> None:
    """Query-updater parameters: worst error of each mixed run vs float64 and vs official."""
    print(
        f"{'query updater: run':26s} {'vs f64 large':>12s} {'small':>9s} {'vs off large':>12s} {'small':>9s}"
    )
    for tag, run in extra:
        worst = {}
        for name, value in official["grad_norms"].items():
            if not name.startswith("query_updater."):
                continue
            key = f"norm/{_canonical(name, torch_weights)}"
            group = "small" if value < 1e-3 * total else "large"
            for ref, col in ((float(f64[key]), "f64"), (value, "off")):
                err = abs(float(run[key]) / ref - 1)
                worst[col, group] = max(worst.get((col, group), (0.0, "")), (err, name))
        cols = [worst[c, g] for c in ("f64", "off") for g in ("large", "small")]
        print(f"{tag:26s} " + " ".join(f"{e:12.1e}" for e, _ in cols))
        for (_, name), label in zip(cols, ("f64 large", "f64 small", "off large", "off small")):
            print(f"    {label}: {name.removeprefix('query_updater.')}")


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
    parser.add_argument("mode", choices=("run", "compare", "kinks", "compare-kinks"))
    parser.add_argument("--fixture", default="official_def_detr")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--cache", default="/tmp/gradprec", type=pathlib.Path)
    parser.add_argument("--fixture-dir", type=pathlib.Path, help="default ../shared/fixtures/NAME")
    parser.add_argument("--weights-npz", type=pathlib.Path, nargs="*", default=[])
    parser.add_argument("--threshold", default=1e-3, type=float)
    parser.add_argument("--small-threshold", default=1e-2, type=float)
    mixed = parser.add_argument_group("mixed-precision runs (run --tag NAME)")
    mixed.add_argument("--tag", help="run a mixed-precision variant, cached as FIXTURE_TAG")
    mixed.add_argument("--detector-dtype", default="float32", choices=("float32", "float64"))
    mixed.add_argument("--updater-dtype", default="float32", choices=("float32", "float64"))
    mixed.add_argument("--detector-split", choices=("fwd64-bwd32", "fwd32-bwd64"))
    mixed.add_argument("--perturb", default=0.0, type=float, help="relative noise on detections")
    mixed.add_argument("--seed", default=1, type=int)
    mixed.add_argument(
        "--force-kinks",
        action="store_true",
        help="the ReLUs that `compare-kinks` lists take their float64 side (needs `kinks` runs)",
    )
    mixed.add_argument(
        "--official-values",
        action="store_true",
        help="detector track inputs and outputs take the official run's values (our gradient)",
    )
    parser.add_argument("--extra", nargs="*", default=[], help="compare: mixed-run tags")
    args = parser.parse_args()
    root = args.fixture_dir or SHARED / "fixtures" / args.fixture
    if args.mode == "kinks":
        _run(args.fixture, args.dtype, args.cache, root, args.weights_npz, kinks=True)
    elif args.mode == "compare-kinks":
        _compare_kinks(args.fixture, args.cache)
    elif args.mode == "run":
        _run(
            args.fixture, args.dtype, args.cache, root, args.weights_npz, args if args.tag else None
        )
    else:
        _compare(args.fixture, args.cache, args.threshold, args.small_threshold, args.extra)


if __name__ == "__main__":
    main()
