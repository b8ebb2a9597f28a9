"""HOTA, CLEAR and Identity metrics of MOT result files, computed by the `trackeval` package.

`score_sequences` runs TrackEval's own per-sequence code (`trackeval.eval.eval_sequence` on a
`MotChallenge2DBox` dataset with the HOTA, CLEAR and Identity metrics, then each metric's
`combine_sequences`), exactly what `trackeval.Evaluator.evaluate` and the official
`run_mot_challenge.py` do, without their printing, plots and output files.

Frame interval (the official SparseTrackEval's `EVAL_INTERVAL = k`): a sequence of L frames is
scored on its frames 1, 1+k, ..., 1+(n-1)k with n = int(L / k), the frames the official
Submitter tracks. Rows of other frames (gt or result) are ignored. We renumber the kept frames
1..n in a temporary copy and score that with stock TrackEval, which gives the same numbers as
SparseTrackEval (the metrics only see the per-frame data, in order). One SparseTrackEval quirk is
not copied: it raises when a kept frame has no gt row at all; here such a frame simply has no gt.

All input rows are parsed first (`mot_files.read_mot_file`), so a malformed line, a frame past
`seqLength` or an id twice in one scored frame is reported with its file and line number
instead of TrackEval's generic message or traceback.

BDD100K (`score_bdd100k`): TETA from our `teta` module (checked against the official SysCV/tet
code) and HOTA / CLEAR / Identity from TrackEval's `BDD100K` dataset (8 classes; mHOTA, mMOTA,
mIDF1 are its class averages over all 8 classes, HOTA, MOTA, IDF1 its detection averages),
given the same files converted to the label layout that reader expects (frame key `index`,
crowd flag `attributes.Crowd`). Distractor categories and crowd boxes in the gt are ignore
regions for both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import pathlib
import tempfile
from collections.abc import Sequence

import numpy as np
import trackeval

from sambamotr_jax.evaluation import teta
from sambamotr_jax.formats import bdd100k_json as bdd100k_files
from sambamotr_jax.formats import mot_text as mot_files
from sambamotr_jax.formats.atomic_write import write_text_atomic
from sambamotr_jax.formats.errors import InputError

# The keys of every summary row: percentages as TrackEval prints them, IDSW a count.
SUMMARY_KEYS = ("HOTA", "DetA", "AssA", "LocA", "IDF1", "MOTA", "IDSW")
COMBINED = "COMBINED"

_CLASS = "pedestrian"
_TRACKER = "tracker"


@dataclasses.dataclass(frozen=True)
class SequenceFiles:
    """One sequence to score.

    Attributes:
      name: sequence name (the key in the results).
      gt_file: MOT gt file (`frame,id,x,y,w,h,mark,class,visibility`).
      tracker_file: MOT result file.
      seq_length: number of frames of the sequence (`seqLength` of its `seqinfo.ini`).
    """

    name: str
    gt_file: pathlib.Path
    tracker_file: pathlib.Path
    seq_length: int


@dataclasses.dataclass(frozen=True)
class Scores:
    """Scores of a set of sequences.

    Attributes:
      summary: {sequence name or 'COMBINED': {key: value}} for `SUMMARY_KEYS`, each value as
        TrackEval prints it (`'{:1.5g}'` of the percentage, read back as a float; IDSW an int).
      raw: {sequence name or 'COMBINED': {metric name: TrackEval's full result dict}}.
    """

    summary: dict[str, dict[str, float | int]]
    raw: dict[str, dict[str, dict]]


def _kept_rows(table: mot_files.MotTable, seq_length: int, interval: int, what: str):
    """Selects the rows of the scored frames and renumbers them; rejects frames past the end."""
    past_end = table.frames > seq_length
    if past_end.any():
        i = int(np.argmax(past_end))
        raise InputError(
            f"{table.path}:{table.line_numbers[i]}: frame {table.frames[i]} is past the end of "
            f"the sequence (seqLength={seq_length}); this {what} file does not belong to this "
            "sequence, or its seqinfo.ini is wrong"
        )
    num_timesteps = seq_length // interval
    keep = ((table.frames - 1) % interval == 0) & ((table.frames - 1) // interval < num_timesteps)
    kept = table.select(keep)
    # TrackEval raises on an id twice in a scored frame, without the file or line: say which.
    mot_files.check_unique_ids(kept.path, mot_files.table_rows(kept), what)
    return mot_files.format_table_rows((kept.frames - 1) // interval + 1, kept)


def _check_columns(table: mot_files.MotTable, minimum: int, what: str) -> None:
    if len(table) and table.values.shape[1] < minimum:
        raise InputError(
            f"{table.path}:{table.line_numbers[0]}: a {what} line needs at least {minimum} "
            f"columns, this file has {table.values.shape[1]}"
        )


def _quiet_metrics():
    return [
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
        trackeval.metrics.Identity({"PRINT_CONFIG": False}),
    ]


def summary_row(metric_results: dict[str, dict]) -> dict[str, float | int]:
    """The `SUMMARY_KEYS` row of one sequence's (or the combined) TrackEval results, each value
    printed by TrackEval's own `summary_results` and read back."""
    printed = {}
    for metric in _quiet_metrics():
        printed.update(metric.summary_results({"COMBINED_SEQ": metric_results[metric.get_name()]}))
    return {k: int(printed[k]) if k == "IDSW" else float(printed[k]) for k in SUMMARY_KEYS}


def score_sequences(sequences: Sequence[SequenceFiles], *, interval: int = 1) -> Scores:
    """Scores result files against gt with TrackEval (HOTA, CLEAR, Identity).

    Args:
      sequences: the sequences to score (names unique).
      interval: score frames 1, 1+k, 1+2k, ... only (SparseTrackEval's EVAL_INTERVAL).

    Raises:
      InputError: a missing or malformed file (names the file and line), or no sequence.
    """
    if interval < 1:
        raise ValueError(f"interval must be >= 1, got {interval}")
    if not sequences:
        raise InputError("no sequence to score")
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise ValueError(f"sequence names must be unique: {names}")

    with tempfile.TemporaryDirectory(prefix="sambamotr_score_") as tmp:
        tmp = pathlib.Path(tmp)
        seq_info = {}
        for seq in sequences:
            if seq.seq_length // interval < 1:
                raise InputError(
                    f"{seq.name}: seqLength={seq.seq_length} leaves no frame to score with "
                    f"interval {interval}; use a smaller interval"
                )
            gt = mot_files.read_mot_file(seq.gt_file)
            _check_columns(gt, 8, "gt (frame,id,x,y,w,h,mark,class[,visibility])")
            tracker = mot_files.read_mot_file(seq.tracker_file)
            gt_lines = _kept_rows(gt, seq.seq_length, interval, "gt")
            tracker_lines = _kept_rows(tracker, seq.seq_length, interval, "result")
            write_text_atomic(tmp / "gt" / seq.name / "gt" / "gt.txt", gt_lines)
            write_text_atomic(tmp / "trackers" / _TRACKER / f"{seq.name}.txt", tracker_lines)
            seq_info[seq.name] = seq.seq_length // interval

        dataset = trackeval.datasets.MotChallenge2DBox(
            {
                "GT_FOLDER": str(tmp / "gt"),
                "TRACKERS_FOLDER": str(tmp / "trackers"),
                "OUTPUT_FOLDER": str(tmp / "out"),
                "TRACKERS_TO_EVAL": [_TRACKER],
                "TRACKER_SUB_FOLDER": "",
                "SKIP_SPLIT_FOL": True,
                "SEQ_INFO": seq_info,
                "CLASSES_TO_EVAL": [_CLASS],
                "PRINT_CONFIG": False,
            }
        )
        metrics = _quiet_metrics()
        metric_names = [m.get_name() for m in metrics]
        raw = {}
        # TrackEval prints a line for some gt problems before raising; keep that off our output.
        with contextlib.redirect_stdout(io.StringIO()):
            for name in names:
                res = trackeval.eval.eval_sequence(
                    name, dataset, _TRACKER, [_CLASS], metrics, metric_names
                )
                raw[name] = res[_CLASS]

    raw[COMBINED] = {
        m.get_name(): m.combine_sequences({n: raw[n][m.get_name()] for n in names}) for m in metrics
    }
    summary = {name: summary_row(raw[name]) for name in [*names, COMBINED]}
    return Scores(summary=summary, raw=raw)


def format_table(summary: dict[str, dict[str, float | int]]) -> str:
    """A plain-text table of a summary: one row per sequence, COMBINED last."""
    width = max(len(COMBINED), *(len(k) for k in summary)) + 2
    header = "".ljust(width) + "".join(k.rjust(9) for k in SUMMARY_KEYS)
    rows = [header]
    for name in sorted(k for k in summary if k != COMBINED) + [COMBINED]:
        rows.append(name.ljust(width) + "".join(f"{summary[name][k]:>9g}" for k in SUMMARY_KEYS))
    return "\n".join(rows) + "\n"


# --------------------------------------------------------------------------------------------
# BDD100K box tracking: TETA (our `teta` module) and HOTA / CLEAR / Identity (TrackEval).

# Top-level keys of a BDD100K summary (percentages): class means, then the pooled numbers.
BDD100K_SUMMARY_KEYS = (
    "mTETA",
    "mLocA",
    "mAssocA",
    "mClsA",
    "mHOTA",
    "mMOTA",
    "mIDF1",
    "TETA",
    "HOTA",
    "MOTA",
    "IDF1",
)
# Keys of each class row of a BDD100K summary.
BDD100K_CLASS_KEYS = ("TETA", "LocA", "AssocA", "ClsA", "HOTA", "MOTA", "IDF1")
# TrackEval's names of the class-averaged and detection-averaged combinations.
CLASS_AVERAGE = "cls_comb_cls_av"
DETECTION_AVERAGE = "cls_comb_det_av"


def _trackeval_bdd100k_frames(video: bdd100k_files.Video, *, is_gt: bool) -> list[dict]:
    """A video in the label layout TrackEval's BDD100K reader expects: frame key `index`,
    integer ids (scalabel's `label_ids_to_int`), crowd flag `attributes.Crowd` (gt only)."""
    ids = bdd100k_files.integer_ids(video)
    frames = []
    for frame in video.frames:
        labels = []
        for label in frame.labels:
            entry = {
                "id": ids[label.id],
                "category": label.category,
                "box2d": dict(zip(("x1", "y1", "x2", "y2"), label.box, strict=True)),
            }
            if is_gt:
                entry["attributes"] = {"Crowd": label.crowd}
            labels.append(entry)
        frames.append(
            {
                "name": frame.name,
                "videoName": frame.video_name,
                "index": frame.frame_index,
                "labels": labels,
            }
        )
    return frames


def bdd100k_trackeval_results(
    videos: Sequence[tuple[bdd100k_files.Video, bdd100k_files.Video]],
) -> dict[str, dict[str, dict]]:
    """HOTA, CLEAR and Identity of (gt, result) video pairs through TrackEval's `BDD100K` dataset,
    combined as `trackeval.Evaluator` does: per class over sequences, then over classes
    (`CLASS_AVERAGE`, all 8 classes, and `DETECTION_AVERAGE`).

    Returns:
      {class name, CLASS_AVERAGE or DETECTION_AVERAGE: {metric name: TrackEval's result dict}}.
    """
    names = [gt.path.stem for gt, _ in videos]
    if len(set(names)) != len(names):
        raise ValueError(f"video names must be unique: {names}")
    with tempfile.TemporaryDirectory(prefix="sambamotr_bdd100k_") as tmp:
        tmp = pathlib.Path(tmp)
        for name, (gt, result) in zip(names, videos, strict=True):
            for path, video, is_gt in (
                (tmp / "gt" / f"{name}.json", gt, True),
                (tmp / "trackers" / _TRACKER / "data" / f"{name}.json", result, False),
            ):
                text = json.dumps(_trackeval_bdd100k_frames(video, is_gt=is_gt))
                write_text_atomic(path, [text])
        dataset = trackeval.datasets.BDD100K(
            {
                "GT_FOLDER": str(tmp / "gt"),
                "TRACKERS_FOLDER": str(tmp / "trackers"),
                "OUTPUT_FOLDER": str(tmp / "out"),
                "TRACKERS_TO_EVAL": [_TRACKER],
                "PRINT_CONFIG": False,
            }
        )
        classes = dataset.class_list
        metrics = _quiet_metrics()
        metric_names = [m.get_name() for m in metrics]
        with contextlib.redirect_stdout(io.StringIO()):
            per_seq = {
                name: trackeval.eval.eval_sequence(
                    name, dataset, _TRACKER, classes, metrics, metric_names
                )
                for name in sorted(names)
            }
    combined = {
        cls: {
            m.get_name(): m.combine_sequences({n: per_seq[n][cls][m.get_name()] for n in per_seq})
            for m in metrics
        }
        for cls in classes
    }
    combined[CLASS_AVERAGE] = {
        m.get_name(): m.combine_classes_class_averaged(
            {cls: combined[cls][m.get_name()] for cls in classes}
        )
        for m in metrics
    }
    combined[DETECTION_AVERAGE] = {
        m.get_name(): m.combine_classes_det_averaged(
            {cls: combined[cls][m.get_name()] for cls in classes}
        )
        for m in metrics
    }
    return combined


def _standard_row(results: dict[str, dict]) -> dict[str, float]:
    """HOTA (mean over its thresholds), MOTA, IDF1 of TrackEval results, in percent."""
    return {
        "HOTA": float(np.mean(results["HOTA"]["HOTA"]) * 100.0),
        "MOTA": float(results["CLEAR"]["MOTA"] * 100.0),
        "IDF1": float(results["Identity"]["IDF1"] * 100.0),
    }


def score_bdd100k(videos: Sequence[tuple[bdd100k_files.Video, bdd100k_files.Video]]) -> Scores:
    """Scores BDD100K videos: TETA (`sambamotr_jax.evaluation.teta`) and HOTA / MOTA / IDF1 (TrackEval).

    Args:
      videos: (gt, result) pairs, each result with exactly its gt's frames
        (`bdd100k_files.check_same_frames`).

    Returns:
      Scores with summary {key of BDD100K_SUMMARY_KEYS: percent, 'classes': {category:
      {key of BDD100K_CLASS_KEYS: percent}}}: mTETA, mLocA, mAssocA, mClsA the TETA class
      means (non-empty classes), mHOTA, mMOTA, mIDF1 TrackEval's class averages (all 8
      classes), TETA, HOTA, MOTA, IDF1 pooled over classes; and raw {'TETA': TetaScores,
      'trackeval': `bdd100k_trackeval_results`}.
    """
    if not videos:
        raise InputError("no sequence to score")
    teta_scores = teta.score_teta(videos)
    standard = bdd100k_trackeval_results(videos)
    average, pooled = (
        _standard_row(standard[CLASS_AVERAGE]),
        _standard_row(standard[DETECTION_AVERAGE]),
    )
    summary = dict(teta_scores.summary())
    summary.update({f"m{k}": v for k, v in average.items()})
    summary["TETA"] = teta_scores.scores[teta.OVERALL]["TETA"]
    summary.update(pooled)
    summary["classes"] = {
        cls: {
            **{k: teta_scores.scores[cls][k] for k in ("TETA", "LocA", "AssocA", "ClsA")},
            **_standard_row(standard[cls]),
        }
        for cls in bdd100k_files.CATEGORIES
    }
    return Scores(summary=summary, raw={"TETA": teta_scores, "trackeval": standard})


def format_bdd100k_table(summary: dict) -> str:
    """A plain-text table of a BDD100K summary: one row per category, then the class means
    (AVERAGE) and the pooled numbers (OVERALL)."""
    width = max(len(c) for c in bdd100k_files.CATEGORIES) + 2
    rows = ["".ljust(width) + "".join(k.rjust(9) for k in BDD100K_CLASS_KEYS)]
    for cls in bdd100k_files.CATEGORIES:
        row = summary["classes"][cls]
        rows.append(cls.ljust(width) + "".join(f"{row[k]:>9.2f}" for k in BDD100K_CLASS_KEYS))
    average = [summary[f"m{k}"] for k in BDD100K_CLASS_KEYS]
    rows.append("AVERAGE".ljust(width) + "".join(f"{v:>9.2f}" for v in average))
    overall = {k: summary[k] for k in ("TETA", "HOTA", "MOTA", "IDF1")}
    rows.append(
        "OVERALL".ljust(width)
        + "".join(f"{overall[k]:>9.2f}" if k in overall else " " * 9 for k in BDD100K_CLASS_KEYS)
    )
    return "\n".join(rows) + "\n"
