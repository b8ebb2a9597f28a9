"""Config validation before anything is built: `--config.train.checkpoint_every=0` is a one-line
`InputError` naming the field, not a modulo by zero after a minute of compiling.

    check_config(config)                           every section train.py uses
    check_config(config, ("model", "tracker", "eval"))   what eval.py / track.py read

Each section's checks read only fields that exist (`get`), so configs that lack an optional field
pass. All problems are reported in one line: `config.train.checkpoint_every=0: must be a
positive integer; config.optim.lr=-1.0: must be >= 0`.
"""

from __future__ import annotations

import math
import numbers

from data_pipeline import dataset_layouts
from sambamotr_jax.detector.backbone import RESNET_STAGES
from sambamotr_jax.formats.errors import InputError

TRAIN_SECTIONS = ("model", "tracker", "data", "train", "optim", "loss", "mesh", "eval")

QUERY_UPDATERS = ("samba", "memotr")
DTYPES = ("float32", "bfloat16")
MS_DEFORM_ATTN_IMPLS = ("", "xla", "pallas")
IMAGE_DTYPES = ("uint8", "float32")
SAMPLE_MODES = ("random_interval",)
LR_SCHEDULERS = ("MultiStep", "Cosine")
ASSIGNMENTS = ("scipy", "jax")


class _Checker:
    """Collects `config.<path>=<value>: <problem>` lines."""

    def __init__(self, config):
        self.config = config
        self.problems: list[str] = []

    def _get(self, path: str):
        node = self.config
        for key in path.split("."):
            if node is None or not hasattr(node, "get"):
                return _ABSENT
            node = node.get(key, _ABSENT)
            if node is _ABSENT:
                return _ABSENT
        return node

    def _bad(self, path: str, value, problem: str) -> None:
        self.problems.append(f"config.{path}={value!r}: {problem}")

    def integer(self, path: str, *, minimum: int = 1, allow: tuple = ()) -> None:
        v = self._get(path)
        if v is _ABSENT or v in allow and not isinstance(v, bool):
            return
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            what = {1: "a positive integer", 0: "an integer >= 0"}.get(minimum, f">= {minimum}")
            extra = f" (or {', '.join(map(str, allow))})" if allow else ""
            self._bad(path, v, f"must be {what}{extra}")

    def number(self, path: str, *, low: float = 0.0, high: float | None = None) -> None:
        v = self._get(path)
        if v is _ABSENT:
            return
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or v < low or (high is not None and v > high):
            rng = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            self._bad(path, v, f"must be a number {rng}")

    def choice(self, path: str, options: tuple[str, ...]) -> None:
        v = self._get(path)
        if v is not _ABSENT and v not in options:
            self._bad(path, v, "must be one of " + " | ".join(repr(o) for o in options))

    def integers(self, path: str, *, minimum: int = 1, nonempty: bool = True) -> None:
        v = self._get(path)
        if v is _ABSENT:
            return
        items = tuple(v) if isinstance(v, (tuple, list)) else None
        bad = items is None or (nonempty and not items)
        bad = bad or any(
            isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < minimum
            for x in items or ()
        )
        if bad:
            what = "positive integers" if minimum == 1 else f"integers >= {minimum}"
            self._bad(path, v, f"must be a {'non-empty ' if nonempty else ''}list of {what}")


_ABSENT = object()


def _model(c: _Checker) -> None:
    c.choice("model.query_updater", QUERY_UPDATERS)
    c.choice("model.backbone", tuple(RESNET_STAGES))
    c.choice("model.dtype", DTYPES)
    c.choice("model.ms_deform_attn_impl", MS_DEFORM_ATTN_IMPLS)
    for name in ("num_classes", "hidden_dim", "num_feature_levels", "num_heads", "enc_points"):
        c.integer(f"model.{name}")
    for name in ("dec_points", "enc_layers", "dec_layers", "num_det_queries"):
        c.integer(f"model.{name}")
    c.integer("model.ffn_dim", minimum=0)
    c.number("model.update_thresh", high=1.0)
    c.number("model.long_memory_lambda", high=1.0)
    for name in ("state_dim", "expand", "num_layers", "conv_dim", "num_heads", "ffn_dim"):
        c.integer(f"model.samba.{name}")


def _tracker(c: _Checker) -> None:
    for name in ("det_score_thresh", "track_score_thresh", "result_score_thresh"):
        c.number(f"tracker.{name}", high=1.0)
    c.integer("tracker.miss_tolerance", minimum=0)
    c.number("tracker.area_thresh")
    for name in ("short_side", "max_size", "max_tracks", "max_tracks_limit"):
        c.integer(f"tracker.{name}")
    start, limit = c._get("tracker.max_tracks"), c._get("tracker.max_tracks_limit")
    if isinstance(start, int) and isinstance(limit, int) and 0 < limit < start:
        c._bad("tracker.max_tracks_limit", limit, f"must be >= tracker.max_tracks ({start})")


def _data(c: _Checker) -> None:
    dataset = c._get("data.dataset")
    if dataset is not _ABSENT:
        try:
            dataset_layouts.canonical_name(str(dataset))
        except ValueError:
            known = " | ".join(sorted(dataset_layouts.DATASET_DIRS.values()))
            c._bad("data.dataset", dataset, f"must be one of {known}")
    c.integer("data.num_workers", minimum=0)
    c.integers("data.sample_steps", minimum=0, nonempty=False)
    c.integers("data.sample_lengths")
    c.integers("data.sample_intervals")
    modes = c._get("data.sample_modes")
    if modes is not _ABSENT and (not modes or any(m not in SAMPLE_MODES for m in modes)):
        c._bad("data.sample_modes", modes, f"must be a non-empty list of {SAMPLE_MODES[0]!r}")
    c.integer("data.mot17_join_epoch", minimum=0)
    for name in ("hflip_prob", "select_prob", "reverse_clip"):
        c.number(f"data.{name}", high=1.0)
    c.integers("data.scales")
    c.integers("data.crop_resize_scales")
    for name in ("max_size", "crop_min_size", "crop_max_size", "max_objects"):
        c.integer(f"data.{name}")
    c.integers("data.hsv_gains", minimum=0)
    buckets = c._get("data.pad_buckets")
    if buckets is not _ABSENT and (
        not buckets
        or any(
            len(b) != 2 or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in b)
            for b in buckets
        )
    ):
        c._bad("data.pad_buckets", buckets, "must be a non-empty list of (height, width) > 0")
    c.choice("data.image_dtype", IMAGE_DTYPES)
    for name in ("width", "height", "num_frames", "train_seqs"):
        c.integer(f"data.synthetic.{name}")
    c.integer("data.synthetic.val_seqs", minimum=0)


def _train(c: _Checker) -> None:
    for name in ("epochs", "batch_per_device", "track_capacity", "log_every", "checkpoint_every"):
        c.integer(f"train.{name}")
    c.integer("train.keep_checkpoints")
    c.integer("train.max_steps", minimum=0)
    c.integers("train.no_grad_frames", minimum=0, nonempty=False)
    c.integers("train.no_grad_steps", minimum=0, nonempty=False)
    frames, steps = c._get("train.no_grad_frames"), c._get("train.no_grad_steps")
    if frames is not _ABSENT and steps is not _ABSENT and len(frames) != len(steps):
        c._bad("train.no_grad_steps", steps, f"needs one epoch per no_grad_frames ({frames})")


def _optim(c: _Checker) -> None:
    for name in ("lr", "lr_backbone", "lr_points", "weight_decay", "clip_max_norm"):
        c.number(f"optim.{name}")
    c.integer("optim.accumulation_steps")
    c.choice("optim.lr_scheduler", LR_SCHEDULERS)
    c.integers("optim.lr_drop_milestones", minimum=0, nonempty=False)
    c.number("optim.lr_drop_rate")
    c.integer("optim.only_train_query_updater_after", minimum=0)


def _loss(c: _Checker) -> None:
    for name in ("match_cost_class", "match_cost_bbox", "match_cost_giou", "focal_weight"):
        c.number(f"loss.{name}")
    for name in ("l1_weight", "giou_weight", "focal_gamma"):
        c.number(f"loss.{name}")
    c.number("loss.focal_alpha", high=1.0)
    c.choice("loss.assignment", ASSIGNMENTS)


def _mesh(c: _Checker) -> None:
    c.integer("mesh.data", allow=(-1,))


def _eval(c: _Checker) -> None:
    c.integer("eval.interval")
    c.integer("eval.every_epochs", minimum=0)
    c.integer("eval.every_steps", minimum=0)
    split = c._get("eval.split")
    if split is not _ABSENT and (not isinstance(split, str) or not split):
        c._bad("eval.split", split, "must be a split name such as 'val'")


_SECTIONS = {
    "model": _model,
    "tracker": _tracker,
    "data": _data,
    "train": _train,
    "optim": _optim,
    "loss": _loss,
    "mesh": _mesh,
    "eval": _eval,
}


def config_problems(config, sections: tuple[str, ...] = TRAIN_SECTIONS) -> list[str]:
    """The `config.<field>=<value>: <problem>` lines of `sections` (empty when valid)."""
    checker = _Checker(config)
    for name in sections:
        _SECTIONS[name](checker)
    return checker.problems


def check_config(config, sections: tuple[str, ...] = TRAIN_SECTIONS) -> None:
    """Validates the fields of `sections` before anything is built.

    Raises:
      InputError: one line naming every invalid field, its value and what it must be.
    """
    problems = config_problems(config, sections)
    if problems:
        raise InputError("; ".join(problems))
