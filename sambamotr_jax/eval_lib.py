"""Evaluation library: score existing MOT result files, or run a tracker over a split and score it.

Layouts (DanceTrack / SportsMOT / MOT17):

    <split_dir>/<seq>/seqinfo.ini, <split_dir>/<seq>/img1/*.jpg|*.png, <split_dir>/<seq>/gt/gt.txt
    <workdir>/<split>/tracker/<seq>.txt         results, one file per sequence (MOT format)
    <workdir>/<split>/tracker/summary.json      scores, per sequence and COMBINED
    <workdir>/<split>/tracker/summary.txt       the same as a table

BDD100K (`score_bdd100k_results`): `<gt_root>/<video>.json` (labels/box_track_20/<split>/) and
`<tracker_dir>/<video>.json` results in the official scalabel frame-list layout
(`bdd100k_files`); summary.json holds mTETA, mLocA, mAssocA, mClsA, mHOTA, mMOTA, mIDF1 and the
pooled TETA, HOTA, MOTA, IDF1 in percent, and per-class rows.

Tracking a BDD100K split (`run_split_bdd100k`, chosen by `evaluate_checkpoint` when
`config.data.dataset == 'BDD100K'` or `result_format='bdd100k'`):

    <root>/BDD100K/images/track/<split>/<video>/*.jpg        frames (official layout)
    <root>/BDD100K/labels/box_track_20/<split>/<video>.json  ground truth
    <workdir>/<split>/tracker/<video>.json    results, official scalabel frame list
    <workdir>/<split>/tracker/<video>.txt     the same results as MOT text with a class column
    <workdir>/<split>/tracker/summary.json    mTETA, mLocA, mAssocA, mClsA, mHOTA, mMOTA, mIDF1...

A split in the MOT layout (`<split>/<seq>/img1`, `gt/gt.txt` with the class 1..8 in column 8,
e.g. `data_pipeline.synthetic --num-classes`) is tracked the same way; its gt.txt files are
converted to `<workdir>/<split>/gt_bdd100k/<seq>.json` (`mot_gt_to_bdd100k`: class c is
`bdd100k_files.CATEGORIES[c - 1]`) and scored against those.

The tracker comes in as a callable (`TrackFn`), so this module never imports the model:

    track_fn(frames: list[pathlib.Path], *, interval: int)
        -> Iterator[(frame, [(track_id, x1, y1, w, h, score[, label]), ...])]

yielding, for each processed frame, its 1-based number in the sequence and its results in
original-image pixels (already filtered as the official Submitter filters them). `label`, the
track's 0-based class, is optional for MOT results (ignored there) and needed for BDD100K.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tqdm
from absl import logging

from sambamotr_jax import bdd100k_files, metrics, mot_files
from sambamotr_jax.mot_files import InputError

# (track_id, x1, y1, w, h, score) or (track_id, x1, y1, w, h, score, label).
TrackRow = (
    tuple[int, float, float, float, float, float]
    | tuple[int, float, float, float, float, float, int]
)
TrackFn = Callable[..., Iterator[tuple[int, list[TrackRow]]]]

BDD100K = "BDD100K"  # config.data.dataset of BDD100K MOT 2020
SUMMARY_JSON = "summary.json"
SUMMARY_TABLE = "summary.txt"


def write_summary(out_dir: pathlib.Path, scores: metrics.Scores) -> str:
    """Writes `summary.json` and `summary.txt` into `out_dir` atomically; returns the table."""
    table = metrics.format_table(scores.summary)
    text = json.dumps(scores.summary, indent=2) + "\n"
    mot_files.write_text_atomic(out_dir / SUMMARY_JSON, [text])
    mot_files.write_text_atomic(out_dir / SUMMARY_TABLE, [table])
    return table


def score_results(
    gt_root: str | pathlib.Path,
    tracker_dir: str | pathlib.Path,
    *,
    seqmap: str | pathlib.Path | None = None,
    interval: int = 1,
) -> metrics.Scores:
    """Scores `<tracker_dir>/<seq>.txt` against `<gt_root>/<seq>/gt/gt.txt` (any tracker's files).

    Sequences are those of `seqmap` when given, else every folder of `gt_root` holding
    `gt/gt.txt`. Sequence lengths come from `<gt_root>/<seq>/seqinfo.ini`. Writes
    `summary.json` and `summary.txt` (the table) into `tracker_dir`.

    Raises:
      InputError: a missing seqmap, gt, seqinfo.ini or result file, or a malformed line.
    """
    gt_root, tracker_dir = pathlib.Path(gt_root), pathlib.Path(tracker_dir)
    if not tracker_dir.is_dir():
        raise InputError(f"{tracker_dir}: result folder not found (expected <seq>.txt files in it)")
    names = None if seqmap is None else mot_files.read_seqmap(seqmap)
    seq_dirs = mot_files.sequence_dirs(gt_root, names)
    if names is None:
        seq_dirs = [d for d in seq_dirs if (d / "gt" / "gt.txt").is_file()]
        if not seq_dirs:
            raise InputError(f"{gt_root}: no sequence folder holds gt/gt.txt; nothing to score")
    sequences = []
    for seq_dir in seq_dirs:
        result = tracker_dir / f"{seq_dir.name}.txt"
        if not result.is_file():
            raise InputError(
                f"{result}: result file not found for sequence {seq_dir.name}; run the tracker on "
                "it, or leave the sequence out of the seqmap"
            )
        gt_file = seq_dir / "gt" / "gt.txt"
        if not gt_file.is_file():
            raise InputError(f"{gt_file}: ground truth not found for sequence {seq_dir.name}")
        sequences.append(
            metrics.SequenceFiles(
                name=seq_dir.name,
                gt_file=gt_file,
                tracker_file=result,
                seq_length=mot_files.read_seqinfo(seq_dir).seq_length,
            )
        )
    scores = metrics.score_sequences(sequences, interval=interval)
    write_summary(tracker_dir, scores)
    logging.info("Scores (interval %d) written to %s", interval, tracker_dir / SUMMARY_JSON)
    return scores


def score_bdd100k_results(
    gt_root: str | pathlib.Path,
    tracker_dir: str | pathlib.Path,
    *,
    names: Sequence[str] | None = None,
) -> metrics.Scores:
    """Scores BDD100K json results `<tracker_dir>/<video>.json` against `<gt_root>/<video>.json`
    (the `labels/box_track_20/<split>/` folder) for every gt file (only the videos `names` when
    given): TETA, HOTA, MOTA, IDF1
    (`metrics.score_bdd100k`). Writes `summary.json` (keys `metrics.BDD100K_SUMMARY_KEYS` in
    percent, and per-class rows under `classes`) and `summary.txt` into `tracker_dir`.

    Raises:
      InputError: no gt json, a missing result file, a malformed entry (unknown category, bad
        box...) or a result without an entry for every gt frame; the message names the file.
    """
    gt_root, tracker_dir = pathlib.Path(gt_root), pathlib.Path(tracker_dir)
    if not gt_root.is_dir():
        raise InputError(f"{gt_root}: gt folder not found (expected <video>.json files in it)")
    if not tracker_dir.is_dir():
        raise InputError(f"{tracker_dir}: result folder not found (expected <video>.json files)")
    gt_files = sorted(gt_root.glob("*.json"))
    if names is not None:
        gt_files = [gt_root / f"{name}.json" for name in names]
        missing = [f for f in gt_files if not f.is_file()]
        if missing:
            raise InputError(f"{missing[0]}: ground truth not found for video {missing[0].stem}")
    if not gt_files:
        raise InputError(f"{gt_root}: no <video>.json ground truth files; nothing to score")
    videos = []
    for gt_file in gt_files:
        result_file = tracker_dir / gt_file.name
        if not result_file.is_file():
            raise InputError(
                f"{result_file}: result file not found for video {gt_file.stem}; run the tracker "
                "on it, or remove its gt file from the gt folder"
            )
        gt = bdd100k_files.read_bdd100k_json(gt_file, is_gt=True)
        if not gt.frames:
            raise InputError(f"{gt_file}: no frames; remove it from the gt folder")
        result = bdd100k_files.read_bdd100k_json(result_file, is_gt=False)
        bdd100k_files.check_same_frames(gt, result)
        videos.append((gt, result))
    scores = metrics.score_bdd100k(videos)
    text = json.dumps(scores.summary, indent=2) + "\n"
    mot_files.write_text_atomic(tracker_dir / SUMMARY_JSON, [text])
    mot_files.write_text_atomic(
        tracker_dir / SUMMARY_TABLE, [metrics.format_bdd100k_table(scores.summary)]
    )
    logging.info("BDD100K scores written to %s", tracker_dir / SUMMARY_JSON)
    return scores


def track_sequence(
    track_fn: TrackFn,
    frames: Sequence[pathlib.Path],
    out_file: pathlib.Path,
    *,
    interval: int = 1,
    progress: bool = True,
    desc: str = "",
) -> int:
    """Runs `track_fn` over one sequence and writes its MOT result file atomically.

    Returns:
      The number of frames processed.

    Raises:
      ValueError: the tracker yields a frame number outside 1..len(frames) or out of order.
    """
    lines = []
    num_processed = 0
    last_frame = 0
    total = len(frames) // interval
    results = track_fn(list(frames), interval=interval)
    for frame, rows in tqdm.tqdm(
        results, total=total, desc=desc, unit="frame", disable=not progress
    ):
        if not last_frame < frame <= len(frames):
            raise ValueError(
                f"track_fn yielded frame {frame} after frame {last_frame}; frames must increase "
                f"within 1..{len(frames)}"
            )
        last_frame = frame
        num_processed += 1
        for track_id, x1, y1, w, h, *_score_label in rows:
            lines.append(mot_files.format_mot_line(frame, track_id, x1, y1, w, h))
    mot_files.write_text_atomic(out_file, lines)
    return num_processed


def run_split(
    track_fn_factory: Callable[[], TrackFn],
    split_dir: str | pathlib.Path,
    workdir: str | pathlib.Path,
    *,
    seqmap: str | pathlib.Path | None = None,
    interval: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> metrics.Scores | None:
    """Tracks every sequence of a split, writes `<workdir>/<split>/tracker/<seq>.txt`, then scores
    the sequences that have ground truth.

    Args:
      track_fn_factory: builds the tracker (e.g. loads the checkpoint); called at most once,
        and only when a sequence still has to be tracked.
      split_dir: folder of sequence folders; its name is the split name (`val`, `test`...).
      workdir: output root.
      seqmap: TrackEval seqmap naming the sequences; None: every sequence folder of the split.
      interval: track frames 1, 1+k, ... and score those (official EVAL_INTERVAL).
      overwrite: track again sequences whose result file exists (else they are kept).
      progress: show a progress bar per sequence.

    Returns:
      The scores, or None when no sequence has ground truth (e.g. the test split).

    Raises:
      InputError: a missing split folder, seqmap, or sequence frames (empty sequence).
    """
    split_dir = pathlib.Path(split_dir)
    names = None if seqmap is None else mot_files.read_seqmap(seqmap)
    seq_dirs = mot_files.sequence_dirs(split_dir, names)
    out_dir = pathlib.Path(workdir) / split_dir.name / "tracker"
    out_dir.mkdir(parents=True, exist_ok=True)

    track_fn = None
    total_frames, total_seconds = 0, 0.0
    for seq_dir in seq_dirs:
        frames = mot_files.sequence_frames(seq_dir)
        out_file = out_dir / f"{seq_dir.name}.txt"
        if out_file.exists() and not overwrite:
            logging.info("%s: %s exists, skipped (pass overwrite to redo)", seq_dir.name, out_file)
            continue
        if track_fn is None:
            track_fn = track_fn_factory()
        start = time.perf_counter()
        n = track_sequence(
            track_fn, frames, out_file, interval=interval, progress=progress, desc=seq_dir.name
        )
        seconds = time.perf_counter() - start
        total_frames, total_seconds = total_frames + n, total_seconds + seconds
        logging.info(
            "%s: %d frames, %.2f FPS -> %s", seq_dir.name, n, n / max(seconds, 1e-9), out_file
        )
    if total_frames:
        logging.info(
            "Tracked %d frames at %.2f FPS overall",
            total_frames,
            total_frames / max(total_seconds, 1e-9),
        )

    scored = [d for d in seq_dirs if (d / "gt" / "gt.txt").is_file()]
    if not scored:
        logging.info("No ground truth under %s: results written, nothing scored", split_dir)
        return None
    sequences = [
        metrics.SequenceFiles(
            name=d.name,
            gt_file=d / "gt" / "gt.txt",
            tracker_file=out_dir / f"{d.name}.txt",
            seq_length=mot_files.read_seqinfo(d).seq_length,
        )
        for d in scored
    ]
    scores = metrics.score_sequences(sequences, interval=interval)
    write_summary(out_dir, scores)
    logging.info("Scores (interval %d) written to %s", interval, out_dir / SUMMARY_JSON)
    return scores


def bdd100k_result_rows(rows: Sequence[TrackRow]) -> list[bdd100k_files.ResultRow]:
    """`TrackFn` rows (id, x1, y1, w, h, score, label) as BDD100K result rows
    (id, label, x1, y1, x2, y2).

    The corners are float32 values and w = x2 - x1 was taken in double precision
    (`mot_files.mot_box_from_xyxy`), so rounding x1 + w to float32 gives back x2 exactly: the
    json holds the official Submitter's `boxes[i].tolist()` values.

    Raises:
      ValueError: a row without its label.
    """
    out = []
    for row in rows:
        if len(row) < 7:
            raise ValueError(
                f"BDD100K results need each track's class: track_fn rows must be (id, x1, y1, "
                f"w, h, score, label), got {row!r}"
            )
        track_id, x1, y1, w, h, _score, label = row[:7]
        x2 = float(np.float32(x1 + w))
        y2 = float(np.float32(y1 + h))
        out.append((int(track_id), int(label), float(x1), float(y1), x2, y2))
    return out


def track_sequence_bdd100k(
    track_fn: TrackFn,
    frames: Sequence[pathlib.Path],
    video_name: str,
    out_json: pathlib.Path,
    out_text: pathlib.Path | None = None,
    *,
    progress: bool = True,
) -> int:
    """Runs `track_fn` over every frame of one video and writes the official result json
    (`name` = frame file name, `videoName`, `frameIndex` = 0-based position, labels with id,
    category, box2d) and, when `out_text` is given, the MOT text with the class column.

    Returns:
      The number of frames processed.

    Raises:
      ValueError: the tracker skips or repeats a frame (BDD100K needs an entry for every
        frame), or a row has no label.
    """
    result_frames: list[bdd100k_files.ResultFrame] = []
    results = track_fn(list(frames), interval=1)
    for frame, rows in tqdm.tqdm(
        results, total=len(frames), desc=video_name, unit="frame", disable=not progress
    ):
        if frame != len(result_frames) + 1:
            raise ValueError(
                f"track_fn yielded frame {frame} after frame {len(result_frames)}; BDD100K "
                "results need every frame in order"
            )
        name = frames[frame - 1].name
        result_frames.append((frame - 1, name, video_name, bdd100k_result_rows(rows)))
    if len(result_frames) != len(frames):
        raise ValueError(f"track_fn yielded {len(result_frames)} of {len(frames)} frames")
    bdd100k_files.write_bdd100k_results(out_json, result_frames)
    if out_text is not None:
        bdd100k_files.write_bdd100k_mot_text(out_text, result_frames)
    return len(result_frames)


def mot_gt_to_bdd100k(seq_dir: str | pathlib.Path, out_file: str | pathlib.Path) -> int:
    """Converts a MOT-layout sequence's `gt/gt.txt` (class 1..8 in column 8) into BDD100K gt
    json, so multi-class MOT data (the synthetic set) can be scored as BDD100K.

    Every frame of the sequence gets an entry (`name` = frame file name, `videoName` = the
    folder name, `frameIndex` = frame - 1); each gt line becomes a label with id = the track
    id, category = `CATEGORIES[class - 1]` and box2d x1 = x, y1 = y, x2 = x + w, y2 = y + h.
    Lines with the MOT "consider" flag (column 7) 0 are left out. Returns the number of boxes.

    Raises:
      InputError: missing gt.txt or frames, a malformed line, a class outside 1..8 or a frame
        number outside the sequence.
    """
    seq_dir = pathlib.Path(seq_dir)
    gt_file = seq_dir / "gt" / "gt.txt"
    if not gt_file.is_file():
        raise InputError(f"{gt_file}: ground truth not found for sequence {seq_dir.name}")
    frames = mot_files.sequence_frames(seq_dir)
    if not frames:
        raise InputError(f"{seq_dir}: no frames")
    labels: list[list[dict]] = [[] for _ in frames]
    n = 0
    for line_no, line in enumerate(gt_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(",")
        where = f"{gt_file}:{line_no}"
        try:
            frame, track_id = int(fields[0]), int(fields[1])
            x, y, w, h = (float(v) for v in fields[2:6])
            consider, cls = int(float(fields[6])), int(float(fields[7]))
        except (ValueError, IndexError):
            raise InputError(
                f"{where}: expected frame,id,x,y,w,h,flag,class,..., got {line!r}"
            ) from None
        if not 1 <= frame <= len(frames):
            raise InputError(f"{where}: frame {frame} outside 1..{len(frames)}")
        if not 1 <= cls <= len(bdd100k_files.CATEGORIES):
            raise InputError(
                f"{where}: class {cls} has no BDD100K category (expected 1.."
                f"{len(bdd100k_files.CATEGORIES)})"
            )
        if consider == 0:
            continue
        labels[frame - 1].append(
            {
                "id": str(track_id),
                "category": bdd100k_files.CATEGORIES[cls - 1],
                "box2d": {"x1": x, "y1": y, "x2": x + w, "y2": y + h},
                "attributes": {"occluded": False, "truncated": False, "crowd": False},
            }
        )
        n += 1
    entries = [
        {"name": f.name, "videoName": seq_dir.name, "frameIndex": i, "labels": labels[i]}
        for i, f in enumerate(frames)
    ]
    mot_files.write_text_atomic(out_file, [json.dumps(entries), "\n"])
    return n


def bdd100k_split_paths(
    data_root: str | pathlib.Path, dataset: str, split: str
) -> tuple[pathlib.Path, pathlib.Path | None]:
    """(folder of video folders, gt json folder or None) of a BDD100K-style split.

    The official layout is `<data_root>/<dataset>/images/track/<split>` with the labels in
    `<data_root>/<dataset>/labels/box_track_20/<split>` (a `data_root` that already is the
    dataset folder is accepted); a missing labels folder (the test split) gives None. Else the
    MOT layout of `split_paths` (gt comes from the sequences' gt.txt): None as well.

    Raises:
      InputError: no such folder.
    """
    data_root = pathlib.Path(data_root)
    for base in (data_root / dataset, data_root):
        split_dir = base / "images" / "track" / split
        if split_dir.is_dir():
            gt_dir = base / "labels" / "box_track_20" / split
            return split_dir, (gt_dir if gt_dir.is_dir() else None)
    try:
        split_dir, _ = split_paths(data_root, dataset, split)
    except InputError:
        raise InputError(
            f"split folder not found: looked for {data_root / dataset / 'images/track' / split} "
            f"(BDD100K layout) and {data_root / dataset / split} (MOT layout); set "
            "--config.data.root to the folder holding the dataset"
        ) from None
    return split_dir, None


def run_split_bdd100k(
    track_fn_factory: Callable[[], TrackFn],
    split_dir: str | pathlib.Path,
    workdir: str | pathlib.Path,
    *,
    gt_dir: str | pathlib.Path | None = None,
    seqmap: str | pathlib.Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> metrics.Scores | None:
    """Tracks every video of a split into BDD100K results and scores them (module docstring).

    Args:
      track_fn_factory: builds the tracker; called at most once, when a video is still to do.
      split_dir: folder of video folders (frames directly inside, or MOT `img1/`).
      workdir: output root; results in `<workdir>/<split>/tracker/<video>.json` and `.txt`.
      gt_dir: BDD100K gt json folder; None: the videos' `gt/gt.txt` (class in column 8) are
        converted into `<workdir>/<split>/gt_bdd100k/` and scored; without them, no score.
      seqmap: TrackEval seqmap naming the videos; None: every video folder.
      overwrite: track again videos whose result json exists (else they are kept).
      progress: show a progress bar per video.

    Returns:
      The scores (`metrics.score_bdd100k`), or None without ground truth (the test split).

    Raises:
      InputError: missing split folder, seqmap, frames, or gt of a video.
    """
    split_dir = pathlib.Path(split_dir)
    names = None if seqmap is None else mot_files.read_seqmap(seqmap)
    seq_dirs = mot_files.sequence_dirs(split_dir, names)
    out_dir = pathlib.Path(workdir) / split_dir.name / "tracker"
    out_dir.mkdir(parents=True, exist_ok=True)

    track_fn = None
    total_frames, total_seconds = 0, 0.0
    for seq_dir in seq_dirs:
        frames = mot_files.sequence_frames(seq_dir)
        out_json = out_dir / f"{seq_dir.name}.json"
        if out_json.exists() and not overwrite:
            logging.info("%s: %s exists, skipped (pass overwrite to redo)", seq_dir.name, out_json)
            continue
        if track_fn is None:
            track_fn = track_fn_factory()
        start = time.perf_counter()
        n = track_sequence_bdd100k(
            track_fn,
            frames,
            seq_dir.name,
            out_json,
            out_dir / f"{seq_dir.name}.txt",
            progress=progress,
        )
        seconds = time.perf_counter() - start
        total_frames, total_seconds = total_frames + n, total_seconds + seconds
        logging.info(
            "%s: %d frames, %.2f FPS -> %s", seq_dir.name, n, n / max(seconds, 1e-9), out_json
        )
    if total_frames:
        logging.info(
            "Tracked %d frames at %.2f FPS overall",
            total_frames,
            total_frames / max(total_seconds, 1e-9),
        )

    video_names = [d.name for d in seq_dirs]
    if gt_dir is None:
        with_gt = [d for d in seq_dirs if (d / "gt" / "gt.txt").is_file()]
        if not with_gt:
            logging.info("No ground truth under %s: results written, nothing scored", split_dir)
            return None
        gt_dir = pathlib.Path(workdir) / split_dir.name / "gt_bdd100k"
        for d in with_gt:
            mot_gt_to_bdd100k(d, gt_dir / f"{d.name}.json")
        video_names = [d.name for d in with_gt]
    return score_bdd100k_results(gt_dir, out_dir, names=video_names)


def is_bdd100k(config) -> bool:
    """True when the config's dataset is BDD100K (results as json, scored with TETA)."""
    return config.data.dataset == BDD100K


def split_paths(
    data_root: str | pathlib.Path, dataset: str, split: str
) -> tuple[pathlib.Path, pathlib.Path | None]:
    """(split folder, seqmap or None) for a dataset split.

    The official layout is `<data_root>/<dataset>/<split>` with the seqmap
    `<data_root>/<dataset>/<split>_seqmap.txt`; a `data_root` that already is the dataset folder
    (`<data_root>/<split>`) is accepted too. A missing seqmap means every sequence folder.

    Raises:
      InputError: neither folder exists.
    """
    data_root = pathlib.Path(data_root)
    candidates = [data_root / dataset / split, data_root / split]
    for split_dir in candidates:
        if split_dir.is_dir():
            seqmap = split_dir.parent / f"{split}_seqmap.txt"
            return split_dir, (seqmap if seqmap.is_file() else None)
    raise InputError(
        f"split folder not found: looked for {candidates[0]} and {candidates[1]}; set "
        "--config.data.root to the folder holding the dataset"
    )


def evaluate_checkpoint(
    config,
    checkpoint_dir: str | pathlib.Path,
    *,
    split: str,
    workdir: str | pathlib.Path,
    build_track_fn: Callable[[object, pathlib.Path], TrackFn],
    interval: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    result_format: str | None = None,
) -> metrics.Scores | None:
    """`eval.py`'s tracking mode: runs a checkpoint over a dataset split and scores it.

    `result_format`: 'mot' (MOT text, HOTA/MOTA/IDF1) or 'bdd100k' (`run_split_bdd100k`: json
    + MOT text with the class column, TETA and the BDD100K metrics); None: 'bdd100k' for
    `config.data.dataset == 'BDD100K'`, else 'mot'.

    Config fields read (ml_collections.ConfigDict):
      data.root: folder holding the dataset folder (official DATA_ROOT), or the dataset folder.
      data.dataset: dataset folder name, e.g. 'DanceTrack'.
      eval.interval (optional, default 1): official EVAL_INTERVAL; the `interval` argument wins.
      eval.seqmap (optional, default ''): seqmap file; '' uses `<split>_seqmap.txt` beside the
        split folder when present, else every sequence folder.

    Args:
      build_track_fn: `(config, checkpoint_dir) -> TrackFn`; called at most once, lazily.

    Raises:
      InputError: missing checkpoint, data root, split folder, seqmap or frames.
    """
    checkpoint_dir = pathlib.Path(checkpoint_dir)
    if not checkpoint_dir.exists():
        raise InputError(
            f"{checkpoint_dir}: checkpoint not found; pass --checkpoint=DIR with a checkpoint "
            "written by train.py (or official weights converted to one)"
        )
    data_root = config.data.get("root")
    if not data_root:
        raise InputError("config.data.root is not set; pass --config.data.root=DIR")
    eval_config = config.get("eval") or {}
    if result_format is None:
        result_format = "bdd100k" if is_bdd100k(config) else "mot"
    if result_format not in ("mot", "bdd100k"):
        raise InputError(f"result format must be 'mot' or 'bdd100k', got {result_format!r}")
    if interval is None:
        interval = int(eval_config.get("interval", 1))
    if result_format == "bdd100k":
        if interval != 1:
            raise InputError(
                f"BDD100K results need every frame (the official evaluation pairs frames); got "
                f"interval {interval}: use --interval=1 / --config.eval.interval=1"
            )
        split_dir, gt_dir = bdd100k_split_paths(data_root, config.data.dataset, split)
        seqmap = pathlib.Path(eval_config["seqmap"]) if eval_config.get("seqmap") else None
        return run_split_bdd100k(
            lambda: build_track_fn(config, checkpoint_dir),
            split_dir,
            workdir,
            gt_dir=gt_dir,
            seqmap=seqmap,
            overwrite=overwrite,
            progress=progress,
        )
    split_dir, seqmap = split_paths(data_root, config.data.dataset, split)
    if eval_config.get("seqmap"):
        seqmap = pathlib.Path(eval_config["seqmap"])
    return run_split(
        lambda: build_track_fn(config, checkpoint_dir),
        split_dir,
        workdir,
        seqmap=seqmap,
        interval=interval,
        overwrite=overwrite,
        progress=progress,
    )
