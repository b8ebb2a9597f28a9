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

All input rows are parsed first (`mot_files.read_mot_file`), so a malformed line is reported
with its file and line number instead of TrackEval's generic message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import pathlib
import tempfile
from collections.abc import Sequence

import numpy as np
import trackeval

from sambamotr_jax import mot_files
from sambamotr_jax.mot_files import InputError

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
            mot_files.write_text_atomic(tmp / "gt" / seq.name / "gt" / "gt.txt", gt_lines)
            mot_files.write_text_atomic(
                tmp / "trackers" / _TRACKER / f"{seq.name}.txt", tracker_lines
            )
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
