"""TETA (Track Every Thing Accuracy; Li et al., ECCV 2022) for BDD100K box tracking.

Our implementation of what the official code computes: `teta.metrics.TETA(exhaustive=True)` of
SysCV/tet (a62a9c0) fed by the BDD100K reader of scalabel's `scalabel-evalAPI` branch
(`scalabel/eval/teta.py`), as `evaluate_box_track` runs it. Tests check it against numbers the
official code produced on constructed cases (`tests/data/teta_official_numbers.json`).

Per sequence:
  1. Boxes are read as (x1, y1, x2 - x1 + 1, y2 - y1 + 1) (the +1 pixel convention); the
     similarity is their IoU. Ground-truth boxes flagged crowd and boxes of the distractor
     categories (other person, other vehicle, trailer) are ignore regions: a prediction not
     matched to a ground-truth box (Hungarian at IoU >= 0.5) that lies more than 50% (of its
     own area) inside one is dropped. (`evaluate_box_track` instead renames distractors to a
     class and scores them as ordinary ground truth; we follow the ignore-region reading that
     both standalone tools share.)
  2. Local clusters (IoU 0.5): for a class, a prediction belongs to its cluster when it
     overlaps a ground-truth box of that class at IoU >= 0.5 in some frame, unless, in that
     frame, the class-agnostic global assignment (below) gives it to a box of another class.
     The global assignment is the TETA matching at alpha 0.5 computed on all classes at once.
  3. Matching per frame: Hungarian on (global alignment score x IoU), where the global
     alignment score of a (gt track, prediction track) pair is their soft Jaccard overlap
     over the sequence; a match counts at threshold alpha when its IoU >= alpha.
     LocA = TP / (TP + FN + FP) for alpha in 0, 0.05, ..., 0.95, where FP counts cluster
     predictions left unmatched. AssocA is the track-level Jaccard of matches, averaged over
     TP. ClsA = TP / (TP + FN + FP) over alpha in 0.5, ..., 0.95, where a matched prediction
     of the right class is a TP, of a wrong class an FN of the gt class and an FP of the
     predicted class, and (exhaustive) predictions of a class outside its clusters in frames
     with ground truth of that class are FPs of it.
Over sequences: counts are summed per class and AssocA is averaged weighted by TP. A class's
number is the mean over its thresholds; mTETA, mLocA, mAssocA, mClsA are the class means over
classes with any TP, FN or FP at some threshold; OVERALL pools the counts of all classes.

Quirks kept: the class term's FP counter is shared between classes within a sequence and a
class whose cluster is empty *overwrites* (not adds to) the FPs other classes gave it before,
so the class order of `EVAL_ORDER` matters; the crowd filter is re-applied before each class
(as the official preprocessing does, in place).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from sambamotr_jax.formats import bdd100k_json as bdd100k_files
from sambamotr_jax.formats.bdd100k_json import CATEGORIES

EPS = np.finfo(float).eps
# Localization / association thresholds alpha: 0, 0.05, ..., 0.95 (20, as the official arange).
ALPHAS = np.arange(0.0, 0.99, 0.05)
# The class term uses the thresholds >= 0.5: ALPHAS[CLS_START:] (10 values).
CLS_START = 10
NUM_CLS_ALPHAS = len(ALPHAS) - CLS_START
# Local cluster IoU threshold (the official threshold key 50).
CLUSTER_IOU = 0.5
# Class order of the official per-sequence loop (scalabel reader's `class_list`).
EVAL_ORDER = ("pedestrian", "rider", "car", "bus", "truck", "train", "motorcycle", "bicycle")
SCORE_KEYS = (
    "TETA",
    "LocA",
    "AssocA",
    "ClsA",
    "LocRe",
    "LocPr",
    "AssocRe",
    "AssocPr",
    "ClsRe",
    "ClsPr",
)
AVERAGE = "AVERAGE"
OVERALL = "OVERALL"


# --------------------------------------------------------------------------------------------
# Boxes.


def _xywh_plus_one(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) corners x1, y1, x2, y2 -> (N, 4) x1, y1, x2 - x1 + 1, y2 - y1 + 1."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)  # (N, 4)
    return np.stack(
        [boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], 1
    )


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray, *, ioa: bool = False) -> np.ndarray:
    """IoU (or intersection over the area of boxes1) of xywh boxes (N, 4), (M, 4) -> (N, M),
    with the official eps handling (degenerate boxes give 0)."""
    b1 = np.concatenate([boxes1[:, :2], boxes1[:, :2] + boxes1[:, 2:]], 1)  # (N, 4) corners
    b2 = np.concatenate([boxes2[:, :2], boxes2[:, :2] + boxes2[:, 2:]], 1)  # (M, 4) corners
    lo = np.maximum(b1[:, None, :2], b2[None, :, :2])  # (N, M, 2)
    hi = np.minimum(b1[:, None, 2:], b2[None, :, 2:])  # (N, M, 2)
    inter = np.maximum(hi[..., 0] - lo[..., 0], 0) * np.maximum(hi[..., 1] - lo[..., 1], 0)
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    if ioa:
        out = np.zeros_like(inter)
        valid = area1 > EPS
        out[valid] = inter[valid] / area1[valid, None]
        return out
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    union = area1[:, None] + area2[None, :] - inter
    inter[area1 <= EPS, :] = 0
    inter[:, area2 <= EPS] = 0
    inter[union <= EPS] = 0
    union[union <= EPS] = 1
    return inter / union


# --------------------------------------------------------------------------------------------
# One sequence.


@dataclasses.dataclass
class _Frame:
    """One timestep: gt (G) and predictions (K); ids are integers, classes index CATEGORIES."""

    gt_ids: np.ndarray  # (G,)
    gt_classes: np.ndarray  # (G,)
    ignore: np.ndarray  # (I, 4) xywh ignore regions
    tk_ids: np.ndarray  # (K,)
    tk_classes: np.ndarray  # (K,)
    tk_boxes: np.ndarray  # (K, 4) xywh
    sim: np.ndarray  # (G, K) IoU


def _frames(gt: bdd100k_files.Video, result: bdd100k_files.Video) -> list[_Frame]:
    gt_ids, tk_ids = bdd100k_files.integer_ids(gt), bdd100k_files.integer_ids(result)
    frames = []
    for g, r in zip(gt.frames, result.frames, strict=True):
        kept = [label for label in g.labels if not label.ignore_region]
        ignored = [label for label in g.labels if label.ignore_region]
        gt_boxes = _xywh_plus_one([label.box for label in kept])
        tk_boxes = _xywh_plus_one([label.box for label in r.labels])
        frames.append(
            _Frame(
                gt_ids=np.array([gt_ids[label.id] for label in kept], int),
                gt_classes=np.array([CATEGORIES.index(label.category) for label in kept], int),
                ignore=_xywh_plus_one([label.box for label in ignored]),
                tk_ids=np.array([tk_ids[label.id] for label in r.labels], int),
                tk_classes=np.array([CATEGORIES.index(label.category) for label in r.labels], int),
                tk_boxes=tk_boxes,
                sim=box_iou(gt_boxes, tk_boxes),
            )
        )
    return frames


def _remove_in_crowd(frames: list[_Frame]) -> None:
    """Drops (in place) predictions unmatched at IoU 0.5 that lie > 50% inside an ignore region."""
    for f in frames:
        unmatched = np.arange(len(f.tk_ids))
        if len(f.gt_ids) and len(f.tk_ids):
            scores = f.sim.copy()
            scores[scores < 0.5 - EPS] = 0
            rows, cols = linear_sum_assignment(-scores)
            unmatched = np.delete(unmatched, cols[scores[rows, cols] > EPS])
        inside = box_iou(f.tk_boxes[unmatched], f.ignore, ioa=True)  # (U, I)
        drop = unmatched[(inside > 0.5 + EPS).any(axis=1)]
        f.tk_ids = np.delete(f.tk_ids, drop)
        f.tk_classes = np.delete(f.tk_classes, drop)
        f.tk_boxes = np.delete(f.tk_boxes, drop, axis=0)
        f.sim = np.delete(f.sim, drop, axis=1)


@dataclasses.dataclass
class _Cluster:
    """A class's (or all classes') view of a sequence; ids are dense indices."""

    gt_ids: list[np.ndarray]  # per t (G_t,) dense gt ids of the class
    tk_ids: list[np.ndarray]  # per t (K_t,) dense ids of cluster predictions present at t
    tk_orig: list[np.ndarray]  # per t (K_t,) their original ids
    tk_classes: list[np.ndarray]  # per t (K_t,)
    sim: list[np.ndarray]  # per t (G_t, K_t)
    overlap: list[set]  # per t original ids of predictions overlapping class gt at t
    num_cls_eval: list[int]  # per t |overlap ∪ predictions of the class|
    num_gt_ids: int
    num_tk_ids: int

    @property
    def num_overlap_dets(self) -> int:
        return sum(len(o) for o in self.overlap)

    @property
    def num_gt_dets(self) -> int:
        return sum(len(g) for g in self.gt_ids)


def _cluster(frames: list[_Frame], cls: int | None, assignment: list[dict] | None) -> _Cluster:
    """The local cluster of class index `cls` (None: all classes) at IoU `CLUSTER_IOU`."""
    overlap, exhaustive = [], []
    for t, f in enumerate(frames):
        gt_mask = np.ones(len(f.gt_ids), bool) if cls is None else f.gt_classes == cls
        taken = set()
        if assignment is not None:
            class_gt = set(f.gt_ids[gt_mask].tolist())
            taken = {tk for g, tk in assignment[t].items() if g not in class_gt}
        overlapping = (f.sim[gt_mask] >= CLUSTER_IOU).any(axis=0)  # (K,)
        overlap.append(set(f.tk_ids[overlapping].tolist()) - taken)
        exhaustive.append(set() if cls is None else set(f.tk_ids[f.tk_classes == cls].tolist()))
    members = set().union(*overlap)

    gt_ids, tk_orig, tk_classes, sims = [], [], [], []
    for f in frames:
        gt_mask = np.ones(len(f.gt_ids), bool) if cls is None else f.gt_classes == cls
        keep = np.isin(f.tk_ids, list(members))
        gt_ids.append(f.gt_ids[gt_mask])
        tk_orig.append(f.tk_ids[keep])
        tk_classes.append(f.tk_classes[keep])
        sims.append(f.sim[gt_mask][:, keep])
    gt_dense = {g: i for i, g in enumerate(sorted(set(np.concatenate(gt_ids).tolist())))}
    tk_dense = {k: i for i, k in enumerate(sorted(members))}
    return _Cluster(
        gt_ids=[np.array([gt_dense[g] for g in ids.tolist()], int) for ids in gt_ids],
        tk_ids=[np.array([tk_dense[k] for k in ids.tolist()], int) for ids in tk_orig],
        tk_orig=tk_orig,
        tk_classes=tk_classes,
        sim=sims,
        overlap=overlap,
        num_cls_eval=[len(o | e) for o, e in zip(overlap, exhaustive, strict=True)],
        num_gt_ids=len(gt_dense),
        num_tk_ids=len(tk_dense),
    )


def _alignment(c: _Cluster) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global alignment score (G, K) and the detection counts of gt (G, 1) and tracks (1, K)."""
    num_matches = np.zeros((c.num_gt_ids, c.num_tk_ids))
    gt_count = np.zeros((c.num_gt_ids, 1))
    tk_count = np.zeros((1, c.num_tk_ids))
    for g, k, sim in zip(c.gt_ids, c.tk_ids, c.sim, strict=True):
        denom = sim.sum(0, keepdims=True) + sim.sum(1, keepdims=True) - sim
        soft = np.zeros_like(sim)
        mask = denom > EPS
        soft[mask] = sim[mask] / denom[mask]
        num_matches[g[:, None], k[None, :]] += soft
        gt_count[g] += 1
        tk_count[0, k] += 1
    return num_matches / (gt_count + tk_count - num_matches), gt_count, tk_count


def _match(c: _Cluster, t: int, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching of frame t on alignment score x IoU: (rows, cols) into the frame."""
    sim = c.sim[t]
    return linear_sum_assignment(-(score[c.gt_ids[t][:, None], c.tk_ids[t][None, :]] * sim))


def _global_assignment(frames: list[_Frame]) -> list[dict]:
    """Per frame {gt id: prediction id} (original ids) of the all-class matching at alpha 0.5."""
    c = _cluster(frames, None, None)
    if c.num_overlap_dets == 0 or c.num_gt_dets == 0:
        return [{} for _ in frames]
    score, _, _ = _alignment(c)
    gt_orig = [f.gt_ids for f in frames]
    out = []
    for t in range(len(frames)):
        rows, cols = _match(c, t, score)
        keep = c.sim[t][rows, cols] >= 0.5 - EPS
        out.append(
            dict(
                zip(gt_orig[t][rows[keep]].tolist(), c.tk_orig[t][cols[keep]].tolist(), strict=True)
            )
        )
    return out


@dataclasses.dataclass
class Counts:
    """TETA counts of one class (over one sequence or combined).

    Attributes:
      loc_tp, loc_fn, loc_fp: (20,) per alpha in ALPHAS.
      cls_tp, cls_fn, cls_fp: (10,) per alpha in ALPHAS[CLS_START:].
      assoc_a, assoc_re, assoc_pr: (20,) association scores (averages over loc_tp).
    """

    loc_tp: np.ndarray
    loc_fn: np.ndarray
    loc_fp: np.ndarray
    cls_tp: np.ndarray
    cls_fn: np.ndarray
    cls_fp: np.ndarray
    assoc_a: np.ndarray
    assoc_re: np.ndarray
    assoc_pr: np.ndarray

    @classmethod
    def zeros(cls) -> Counts:
        n, m = len(ALPHAS), NUM_CLS_ALPHAS
        z = np.zeros
        return cls(z(n), z(n), z(n), z(m), z(m), z(m), z(n), z(n), z(n))

    @property
    def empty(self) -> bool:
        """No TP, FN or FP at any threshold (left out of the class average)."""
        return not (self.loc_tp + self.loc_fn + self.loc_fp > EPS).any()


def _evaluate_class(c: _Cluster, cls: int, cls_fp: dict[int, np.ndarray]) -> Counts:
    """Counts of class `cls`; adds to the shared class-term FP counter `cls_fp` (see quirks)."""
    res = Counts.zeros()
    if c.num_overlap_dets == 0:
        res.loc_fn[:] = c.num_gt_dets
        cls_fp[cls] = sum(c.num_cls_eval) * np.ones(NUM_CLS_ALPHAS)
        return res
    score, gt_count, tk_count = _alignment(c)
    match_counts = np.zeros((len(ALPHAS), c.num_gt_ids, c.num_tk_ids))
    for t in range(len(c.gt_ids)):
        num_gt = len(c.gt_ids[t])
        if num_gt == 0:
            cls_fp[cls] += c.num_cls_eval[t]
            continue
        rows, cols = _match(c, t, score)
        cls_fp[cls] += c.num_cls_eval[t] - len(c.overlap[t])
        matched_sim = c.sim[t][rows, cols]
        for a, alpha in enumerate(ALPHAS):
            keep = matched_sim >= alpha - EPS
            r, k = rows[keep], cols[keep]
            if a >= CLS_START:
                predicted = c.tk_classes[t][k]
                for wrong in predicted[predicted != cls]:
                    cls_fp[int(wrong)][a - CLS_START] += 1
                num_right = int(np.sum(predicted == cls))
                res.cls_tp[a - CLS_START] += num_right
                res.cls_fn[a - CLS_START] += len(k) - num_right
            res.loc_tp[a] += len(k)
            res.loc_fn[a] += num_gt - len(k)
            res.loc_fp[a] += len(c.overlap[t] - set(c.tk_orig[t][k].tolist()))
            match_counts[a, c.gt_ids[t][r], c.tk_ids[t][k]] += 1
    for a in range(len(ALPHAS)):
        m = match_counts[a]
        denom = np.maximum(1, res.loc_tp[a])
        res.assoc_a[a] = np.sum(m * (m / np.maximum(1, gt_count + tk_count - m))) / denom
        res.assoc_re[a] = np.sum(m * (m / np.maximum(1, gt_count))) / denom
        res.assoc_pr[a] = np.sum(m * (m / np.maximum(1, tk_count))) / denom
    return res


def evaluate_sequence(gt: bdd100k_files.Video, result: bdd100k_files.Video) -> dict[str, Counts]:
    """TETA counts per category of one video. `result` must have the frames of `gt`
    (`bdd100k_files.check_same_frames`)."""
    frames = _frames(gt, result)
    _remove_in_crowd(frames)
    assignment = _global_assignment(frames)
    cls_fp = {i: np.zeros(NUM_CLS_ALPHAS) for i in range(len(CATEGORIES))}
    counts = {}
    for name in EVAL_ORDER:
        cls = CATEGORIES.index(name)
        _remove_in_crowd(frames)
        counts[name] = _evaluate_class(_cluster(frames, cls, assignment), cls, cls_fp)
    for name in EVAL_ORDER:
        counts[name].cls_fp += cls_fp[CATEGORIES.index(name)]
    return counts


# --------------------------------------------------------------------------------------------
# Combining.


def combine(counts: Sequence[Counts]) -> Counts:
    """Sums counts (over sequences, or over classes for OVERALL); association scores are
    averaged weighted by loc_tp. Sums run in order, as the official Python `sum`."""
    out = Counts.zeros()
    for field in ("loc_tp", "loc_fn", "loc_fp", "cls_tp", "cls_fn", "cls_fp"):
        setattr(out, field, sum((getattr(c, field) for c in counts), getattr(out, field)))
    for field in ("assoc_a", "assoc_re", "assoc_pr"):
        weighted = sum((getattr(c, field) * c.loc_tp for c in counts), np.zeros(len(ALPHAS)))
        setattr(out, field, weighted / np.maximum(1.0, out.loc_tp))
    return out


def final_fields(c: Counts) -> dict[str, np.ndarray]:
    """The official per-threshold scores (fractions): (20,) arrays, Cls* already averaged."""
    loc_re = c.loc_tp / np.maximum(1, c.loc_tp + c.loc_fn)
    loc_pr = c.loc_tp / np.maximum(1, c.loc_tp + c.loc_fp)
    loc_a = c.loc_tp / np.maximum(1, c.loc_tp + c.loc_fn + c.loc_fp)
    cls_re = np.mean(c.cls_tp / np.maximum(1, c.cls_tp + c.cls_fn))
    cls_pr = np.mean(c.cls_tp / np.maximum(1, c.cls_tp + c.cls_fp))
    cls_a = np.mean(c.cls_tp / np.maximum(1, c.cls_tp + c.cls_fn + c.cls_fp))
    return {
        "TETA": (loc_a + c.assoc_a + cls_a) / 3,
        "LocA": loc_a,
        "AssocA": c.assoc_a,
        "ClsA": cls_a,
        "LocRe": loc_re,
        "LocPr": loc_pr,
        "AssocRe": c.assoc_re,
        "AssocPr": c.assoc_pr,
        "ClsRe": cls_re,
        "ClsPr": cls_pr,
    }


def _percent(fields: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.mean(fields[k]) * 100.0) for k in SCORE_KEYS}


@dataclasses.dataclass(frozen=True)
class TetaScores:
    """TETA results in percent.

    Attributes:
      scores: {category, 'AVERAGE' or 'OVERALL': {key of SCORE_KEYS: percent}}; AVERAGE is the
        class mean over non-empty classes (mTETA...), OVERALL pools all classes' counts.
      counts: {category: combined Counts}.
    """

    scores: dict[str, dict[str, float]]
    counts: dict[str, Counts]

    def summary(self) -> dict[str, float]:
        """{'mTETA', 'mLocA', 'mAssocA', 'mClsA'}: the AVERAGE row."""
        return {f"m{k}": self.scores[AVERAGE][k] for k in ("TETA", "LocA", "AssocA", "ClsA")}


def score_teta(videos: Sequence[tuple[bdd100k_files.Video, bdd100k_files.Video]]) -> TetaScores:
    """TETA of (gt, result) video pairs (each result with exactly its gt's frames)."""
    per_seq = [evaluate_sequence(gt, result) for gt, result in videos]
    counts = {name: combine([s[name] for s in per_seq]) for name in CATEGORIES}
    fields = {name: final_fields(c) for name, c in counts.items()}
    scores = {name: _percent(f) for name, f in fields.items()}
    non_empty = [fields[name] for name in CATEGORIES if not counts[name].empty]
    if non_empty:
        scores[AVERAGE] = _percent(
            {k: np.mean([f[k] for f in non_empty], axis=0) for k in SCORE_KEYS}
        )
    else:
        scores[AVERAGE] = {k: float("nan") for k in SCORE_KEYS}
    scores[OVERALL] = _percent(final_fields(combine(list(counts.values()))))
    return TetaScores(scores=scores, counts=counts)
