"""Exporting the tracker: the jitted frame step serialized with `jax.export` for each input size
and track capacity, the weights and the tracker settings, in one artifact
(`formats.tracker_artifact`; run by `sambamotr_jax.serve` without the model code).

The exported step takes and returns plain dicts of arrays (weights by '/'-joined path, the track
state by field name: `updater/<name>` for the query updater's arrays), so the runner needs no
Flax structure to call it. The deformable attention inside follows the platform it is lowered
for (`kernels.ms_deform_attn`): one artifact lowered for CPU and CUDA carries the xla path for
CPU and the Pallas Triton kernel for CUDA.
"""

from __future__ import annotations

import functools
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from sambamotr_jax import model as model_lib
from sambamotr_jax.formats import frame_images, tracker_artifact
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.online import frame_preprocess
from sambamotr_jax.online.frame_loop import capacities
from sambamotr_jax.tracking import frame_step
from sambamotr_jax.tracking.track_state import TrackState, empty_track_state, slot_fills

PLATFORMS = ("cpu", "cuda", "rocm", "tpu")
TRITON_CALL = "__gpu$xla.gpu.triton"  # the Pallas kernel's custom call (compiled for CUDA)


def state_to_dict(state: TrackState) -> dict:
    """TrackState -> {field: array}, the query updater's arrays as `updater/<name>`."""
    out = {
        name: getattr(state, name)
        for name in ("live", "ids", "labels", "disappear_time", "query_embed", "ref_pts")
    }
    out.update({f"updater/{n}": v for n, v in state.updater.items()})
    out["next_id"] = state.next_id
    return out


def state_from_dict(d: dict) -> TrackState:
    updater = {k.split("/", 1)[1]: v for k, v in d.items() if k.startswith("updater/")}
    plain = {k: v for k, v in d.items() if not k.startswith("updater/")}
    return TrackState(updater=updater, **plain)


def _dict_step(model, params, compute_dtype, weights, state, image, pad_mask, orig_hw):
    variables = traverse_util.unflatten_dict(weights, sep="/")
    next_state, results = frame_step.frame_step(
        model,
        params,
        variables,
        state_from_dict(state),
        image,
        pad_mask,
        orig_hw,
        compute_dtype=compute_dtype,
    )
    return state_to_dict(next_state), results


def tracker_params(t) -> frame_step.TrackerParams:
    """`config.tracker` -> the frame step's thresholds."""
    return frame_step.TrackerParams(
        det_score_thresh=float(t.det_score_thresh),
        track_score_thresh=float(t.track_score_thresh),
        result_score_thresh=float(t.result_score_thresh),
        miss_tolerance=int(t.miss_tolerance),
        area_thresh=float(t.area_thresh),
    )


def parse_frame_size(text: str) -> tuple[int, int]:
    """'H,W' -> (H, W) positive ints."""
    try:
        h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--frame_size={text!r}: expected HEIGHT,WIDTH in pixels") from None
    if h <= 0 or w <= 0:
        raise InputError(f"--frame_size={text!r}: sizes must be positive")
    return h, w


def export_tracker(
    config,
    variables,
    frame_sizes: list[tuple[int, int]],
    output: str | os.PathLike,
    *,
    platforms: tuple[str, ...] = ("cpu",),
) -> dict:
    """Writes the artifact for frames of `frame_sizes` (original pixels); returns its manifest.

    One step is exported per distinct input size (the frame resized with `tracker.short_side` /
    `tracker.max_size` and padded to a multiple of 32, as `online.frame_preprocess`) and per
    capacity the tracker may grow to (`tracker.max_tracks` doubling up to `max_tracks_limit`).
    """
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown or not platforms:
        raise InputError(f"--platforms: {unknown or 'none'}; choose from {', '.join(PLATFORMS)}")
    if config.model.dtype not in ("float32", "bfloat16"):
        raise InputError(
            f"config.model.dtype={config.model.dtype!r}: expected 'float32' or 'bfloat16'"
        )
    t = config.tracker
    model = model_lib.build_model(config.model)
    params = tracker_params(t)
    weights = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(variables, sep="/").items()}
    weight_specs = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in weights.items()}
    sizes = {
        tuple(hw): frame_preprocess.input_size(*hw, t.short_side, t.max_size) for hw in frame_sizes
    }
    caps = capacities(int(t.max_tracks), max(int(t.max_tracks_limit), int(t.max_tracks)))
    disabled = [jax.export.DisabledSafetyCheck.custom_call(TRITON_CALL)]
    fn = jax.jit(functools.partial(_dict_step, model, params, config.model.dtype))
    steps = {}
    for hp, wp in sorted(set(sizes.values())):
        for k in caps:
            state = state_to_dict(
                empty_track_state(k, model.query_dim, model.updater_state_shapes())
            )
            specs = (
                weight_specs,
                {n: jax.ShapeDtypeStruct(v.shape, v.dtype) for n, v in state.items()},
                jax.ShapeDtypeStruct((1, hp, wp, 3), jnp.float32),
                jax.ShapeDtypeStruct((1, hp, wp), jnp.bool_),
                jax.ShapeDtypeStruct((2,), jnp.float32),
            )
            logging.info("exporting the step for input %dx%d, capacity %d", hp, wp, k)
            exported = jax.export.export(fn, platforms=platforms, disabled_checks=disabled)(*specs)
            steps[(hp, wp, k)] = exported.serialize()
    empty = empty_track_state(1, model.query_dim, model.updater_state_shapes())
    fills = state_to_dict(slot_fills(empty))
    manifest = {
        "platforms": list(platforms),
        "dtype": config.model.dtype,  # the detector's compute dtype; weights and state float32
        "jax_version": jax.__version__,
        "tracker": {
            "det_score_thresh": params.det_score_thresh,
            "track_score_thresh": params.track_score_thresh,
            "result_score_thresh": params.result_score_thresh,
            "miss_tolerance": params.miss_tolerance,
            "area_thresh": params.area_thresh,
            "short_side": int(t.short_side),
            "max_size": int(t.max_size),
            "max_tracks": caps[0],
            "max_tracks_limit": caps[-1],
        },
        "normalization": {
            "mean": list(frame_images.IMAGENET_MEAN),
            "std": list(frame_images.IMAGENET_STD),
            "size_divisibility": frame_preprocess.SIZE_DIVISIBILITY,
        },
        "frame_sizes": [{"frame": list(hw), "input": list(sizes[hw])} for hw in sorted(sizes)],
        "capacities": caps,
        "state": [
            {
                "name": name,
                "per_slot": value.ndim > 0,
                "slot_shape": list(value.shape[1:]),
                "dtype": str(value.dtype),
                "fill": fills[name],
            }
            for name, value in state_to_dict(empty).items()
        ],
        "model": config.model.to_dict(),
    }
    return tracker_artifact.write_artifact(output, manifest, steps, weights)
