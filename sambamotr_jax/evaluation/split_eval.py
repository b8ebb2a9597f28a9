"""Evaluation library: score existing MOT result files, or run a tracker over a split and score it.

`run_split` tracks a split and scores it, in one of two result formats; `find_split` finds a
config's split (folders, seqmap, gt, format) for eval.py (`evaluate_checkpoint`) and for the
periodic evaluation in training.

MOT format (DanceTrack / SportsMOT / MOT17 / BFT / single-class synthetic):

    <split_dir>/<seq>/seqinfo.ini, <split_dir>/<seq>/img1/*.jpg|*.png, <split_dir>/<seq>/gt/gt.txt
    BFT: <split_dir>/<seq>/*.jpg, gt in <dataset>/annotations_mot/<split>/<seq>.txt (no seqinfo)
    <workdir>/<split>/tracker/<seq>.txt         results, one file per sequence (MOT format)
    <workdir>/<split>/tracker/summary.json      scores, per sequence and COMBINED
    <workdir>/<split>/tracker/summary.txt       the same as a table

BDD100K format (`default_result_format`: the BDD100K dataset, or any multi-class model):

    <root>/BDD100K/images/track/<split>/<video>/*.jpg        frames (official layout)
    <root>/BDD100K/labels/box_track_20/<split>/<video>.json  ground truth
    <workdir>/<split>/tracker/<video>.json    results, official scalabel frame list
    <workdir>/<split>/tracker/<video>.txt     the same results as MOT text with a class column
    <workdir>/<split>/tracker/summary.json    mTETA, mLocA, mAssocA, mClsA, mHOTA, mMOTA, mIDF1...

`score_bdd100k_results` scores `<tracker_dir>/<video>.json` against `<gt_root>/<video>.json` in
the official scalabel frame-list layout (`bdd100k_files`); summary.json holds mTETA, mLocA,
mAssocA, mClsA, mHOTA, mMOTA, mIDF1 and the pooled TETA, HOTA, MOTA, IDF1 in percent, and
per-class rows. A split in the MOT layout (`<split>/<seq>/img1`, `gt/gt.txt` with the class
1..8 in column 8, e.g. `data_pipeline.synthetic_mot --num-classes`) is tracked the same way; its
gt.txt files are converted to `<workdir>/<split>/gt_bdd100k/<seq>.json` (`mot_gt_to_bdd100k`:
class c is `bdd100k_json.CATEGORIES[c - 1]`) and scored against those.

The tracker comes in as a callable (`TrackFn`), so this module never imports the model:

    track_fn(frames: list[pathlib.Path], *, interval: int)
        -> Iterator[(frame, [(track_id, x1, y1, w, h, score[, label]), ...])]

yielding, for each processed frame, its 1-based number in the sequence and its results in
original-image pixels (already filtered as the official Submitter filters them). `label`, the
track's 0-based class, is optional for MOT results (ignored there) and needed for BDD100K.

With `streams` > 1 (`eval.py --streams=B`) the sequences are tracked B at a time by a
`StreamsTrackFn`:

    track_streams_fn(sequences: list[list[pathlib.Path]], *, interval: int, streams: int)
        -> Iterator[(sequence index, frame, rows)]

yielding each sequence's frames in order, frames of different sequences interleaved. A
sequence's result file is written (atomically, by the one-sequence writers) once its last frame
is in (`track_in_streams`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import tqdm
from absl import logging

from sambamotr_jax.evaluation import device_workers, process_shards
from sambamotr_jax.evaluation import trackeval_scores as metrics
from sambamotr_jax.formats import bdd100k_json, mot_text, sequence_folder
from sambamotr_jax.formats.atomic_write import partial_path, write_partial, write_text_atomic
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.runtime import distributed

# (track_id, x1, y1, w, h, score) or (track_id, x1, y1, w, h, score, label).
TrackRow = (
    tuple[int, float, float, float, float, float]
    | tuple[int, float, float, float, float, float, int]
)
TrackFn = Callable[..., Iterator[tuple[int, list[TrackRow]]]]
StreamsTrackFn = Callable[..., Iterator[tuple[int, int, list[TrackRow]]]]

BDD100K = "BDD100K"  # config.data.dataset of BDD100K MOT 2020
MOT_FORMAT, BDD100K_FORMAT = "mot", "bdd100k"  # result formats (`run_split`)
RESULT_FORMATS = (MOT_FORMAT, BDD100K_FORMAT)
SUMMARY_JSON = "summary.json"
SUMMARY_TABLE = "summary.txt"


def write_summary(out_dir: pathlib.Path, scores: metrics.Scores) -> str:
    """Writes `summary.json` and `summary.txt` into `out_dir` atomically; returns the table."""
    table = metrics.format_table(scores.summary)
    text = json.dumps(scores.summary, indent=2) + "\n"
    write_text_atomic(out_dir / SUMMARY_JSON, [text])
    write_text_atomic(out_dir / SUMMARY_TABLE, [table])
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
    names = None if seqmap is None else sequence_folder.read_seqmap(seqmap)
    seq_dirs = sequence_folder.sequence_dirs(gt_root, names)
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
                seq_length=sequence_folder.read_seqinfo(seq_dir).seq_length,
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
        gt = bdd100k_json.read_bdd100k_json(gt_file, is_gt=True)
        if not gt.frames:
            raise InputError(f"{gt_file}: no frames; remove it from the gt folder")
        result = bdd100k_json.read_bdd100k_json(result_file, is_gt=False)
        bdd100k_json.check_same_frames(gt, result)
        videos.append((gt, result))
    scores = metrics.score_bdd100k(videos)
    text = json.dumps(scores.summary, indent=2) + "\n"
    write_text_atomic(tracker_dir / SUMMARY_JSON, [text])
    write_text_atomic(tracker_dir / SUMMARY_TABLE, [metrics.format_bdd100k_table(scores.summary)])
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
      InputError: a frame cannot be read; the lines of the frames tracked before it are in
        `<out_file>.partial` and no `out_file` is left (the message says so).
    """
    lines = []
    num_processed = 0
    last_frame = 0
    total = len(frames) // interval
    results = track_fn(list(frames), interval=interval)
    try:
        for frame, rows in tqdm.tqdm(
            results, total=total, desc=desc, unit="frame", disable=not progress
        ):
            if not last_frame < frame <= len(frames):
                raise ValueError(
                    f"track_fn yielded frame {frame} after frame {last_frame}; frames must "
                    f"increase within 1..{len(frames)}"
                )
            last_frame = frame
            num_processed += 1
            for track_id, x1, y1, w, h, *_score_label in rows:
                lines.append(mot_text.format_mot_line(frame, track_id, x1, y1, w, h))
    except InputError as err:
        next_frame = last_frame + interval if last_frame else 1
        raise _stopped(err, out_file, lines, num_processed, next_frame) from None
    write_text_atomic(out_file, lines)
    partial_path(out_file).unlink(missing_ok=True)
    return num_processed


def _stopped(err: InputError, out_file, lines: list[str], done: int, frame: int) -> InputError:
    """Writes the results so far to `<out_file>.partial` and says where tracking stopped."""
    partial = write_partial(out_file, lines)
    return InputError(
        f"{err}; tracking stopped at frame {frame} of {pathlib.Path(out_file).stem}: the "
        f"{len(lines)} lines of the {done} frames tracked before it are in {partial} "
        f"({pathlib.Path(out_file).name} not written)"
    )


def track_in_streams(
    track_streams_fn: StreamsTrackFn,
    frame_lists: Sequence[Sequence[pathlib.Path]],
    write: Callable[[int, TrackFn], int],
    out_files: Sequence[pathlib.Path],
    *,
    interval: int = 1,
    streams: int,
    progress: bool = True,
) -> int:
    """Tracks several sequences `streams` at a time; writes each one's results when it ends.

    Args:
      track_streams_fn: the tracker (module docstring).
      frame_lists: every sequence's frame files.
      write: `(sequence index, TrackFn of its frames) -> frames written`, the one-sequence
        writer (`track_sequence` or `track_sequence_bdd100k`); it gets the sequence's rows once
        all `len(frames) // interval` of its frames are in, so its file is written atomically
        and only whole.
      out_files: each sequence's result file (for the `.partial` files named on an error).

    Returns:
      The number of frames processed.

    Raises:
      InputError: a frame cannot be read; the sequences tracked to the end have their result
        files, each sequence in flight (a frame tracked, not the last) has the lines of its
        frames tracked before the error in its `<result>.partial` and no result file (the
        message names them); the sequences not started have none.
      ValueError: as the writer, for a sequence's frames out of order.
    """
    rows_of: list[list | None] = [[] for _ in frame_lists]
    expected = [len(frames) // interval for frames in frame_lists]
    processed = 0

    def write_rows(k: int, end: InputError | None = None) -> None:
        rows, rows_of[k] = rows_of[k], None

        def replay(frames, *, interval):
            yield from rows
            if end is not None:
                raise end

        write(k, replay)

    results = track_streams_fn(
        [list(frames) for frames in frame_lists], interval=interval, streams=streams
    )
    try:
        for k, frame, rows in tqdm.tqdm(
            results, total=sum(expected), desc="streams", unit="frame", disable=not progress
        ):
            rows_of[k].append((frame, rows))
            processed += 1
            if len(rows_of[k]) == expected[k]:
                write_rows(k)
    except InputError as err:
        in_flight = [k for k, rows in enumerate(rows_of) if rows]  # started, not written
        for k in in_flight:
            try:
                write_rows(k, end=err)  # the writer keeps its lines in <result>.partial
            except InputError:
                pass
        if not in_flight:  # the first frame of the first sequences
            raise InputError(f"{err}; tracking stopped before any frame was tracked") from None
        partials = ", ".join(str(partial_path(out_files[k])) for k in in_flight)
        raise InputError(
            f"{err}; tracking stopped: the lines of the frames tracked so far of the "
            f"{len(in_flight)} sequences in flight are in {partials} (no result file written "
            "for them)"
        ) from None
    for k, rows in enumerate(rows_of):
        if rows is not None:  # fewer frames than expected (e.g. none): written as they are
            write_rows(k)
    return processed


def check_interval(result_format: str, interval: int) -> None:
    """BDD100K results need every frame (the official evaluation pairs frames).

    Raises:
      InputError: an unknown format, an interval < 1, or an interval other than 1 for BDD100K.
    """
    if result_format not in RESULT_FORMATS:
        raise InputError(f"result format must be 'mot' or 'bdd100k', got {result_format!r}")
    if interval < 1:
        raise InputError(f"the frame interval must be >= 1, got {interval}")
    if result_format == BDD100K_FORMAT and interval != 1:
        raise InputError(
            f"BDD100K results need every frame (the official evaluation pairs frames); got "
            f"interval {interval}: use --interval=1 / --config.eval.interval=1"
        )


def run_split(
    track_fn_factory: Callable[[], TrackFn],
    split_dir: str | pathlib.Path,
    workdir: str | pathlib.Path,
    *,
    seqmap: str | pathlib.Path | None = None,
    gt_dir: str | pathlib.Path | None = None,
    result_format: str = MOT_FORMAT,
    interval: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    shard: process_shards.Shard = process_shards.SINGLE,
    barrier: Callable[[str], None] | None = None,
    streams: int = 1,
    workers: Sequence[str] | None = None,
) -> metrics.Scores | None:
    """Tracks every sequence of a split into `<workdir>/<split>/tracker/`, then scores the
    sequences that have ground truth.

    Multi-process (`shard` = (process_index, process_count), `barrier` waits for every
    process): each process tracks its share of the sequences (`process_shards`), process 0
    scores them all once every process is done; the other processes return None.

    Several devices in a process (`workers`, e.g. `eval.py` on a machine with 8 GPUs): the
    process's sequences are tracked by one thread per device at once (`device_workers`), each
    with its own tracker; the result files are those of one device.

    Results and scores by `result_format`:
      'mot': `<seq>.txt` (MOT text), HOTA/MOTA/IDF1 (`metrics.score_sequences`) against
        `<seq>/gt/gt.txt`, or `<gt_dir>/<seq>.txt` (BFT `annotations_mot/<split>/`; its
        unspecified -1 flag/class/visibility columns are written as 1 into
        `<workdir>/<split>/gt_mot/<seq>.txt` first, see `mot_gt_with_defaults`).
      'bdd100k': `<video>.json` (official scalabel frame list) and `<video>.txt` (MOT text with
        the class column), TETA and the BDD100K metrics (`score_bdd100k_results`) against
        `<gt_dir>/<video>.json`, or the videos' `gt/gt.txt` (class in column 8) converted into
        `<workdir>/<split>/gt_bdd100k/` (`mot_gt_to_bdd100k`).

    Args:
      track_fn_factory: builds the tracker (e.g. loads the checkpoint); called at most once,
        and only when a sequence still has to be tracked.
      split_dir: folder of sequence folders; its name is the split name (`val`, `test`...).
      workdir: output root.
      seqmap: TrackEval seqmap naming the sequences; None: every sequence folder of the split.
      gt_dir: folder of per-sequence gt files (above); None: gt inside the sequence folders.
      result_format: 'mot' | 'bdd100k'.
      interval: track frames 1, 1+k, ... and score those (official EVAL_INTERVAL; 1 for
        BDD100K).
      overwrite: track again sequences whose result file exists (else they are kept).
      progress: show a progress bar per sequence.
      shard, barrier: this process's share of a multi-process run (above).
      streams: with B > 1, `track_fn_factory` builds a `StreamsTrackFn` and this process's
        sequences are tracked B at a time (`track_in_streams`); the result files are those of
        B = 1.
      workers: the names of the devices that track at once (in logs: `<seq>: ... on <name>`);
        `track_fn_factory()` then returns one tracker per worker, in this order, each running
        on its device (with `streams` > 1, B streams per device). None: one tracker.

    Returns:
      The scores, or None when no sequence has ground truth (e.g. the test split) or on a
      process other than 0.

    Raises:
      InputError: a missing split folder, seqmap, sequence frames or gt, or a BDD100K interval
        other than 1.
      cli.Failure: with `workers`, a tracker failed with an error other than an InputError
        (`device_workers`: the message names the device).
    """
    check_interval(result_format, interval)
    split_dir = pathlib.Path(split_dir)
    names = None if seqmap is None else sequence_folder.read_seqmap(seqmap)
    seq_dirs = sequence_folder.sequence_dirs(split_dir, names)
    out_root = pathlib.Path(workdir) / split_dir.name
    out_dir = out_root / "tracker"
    out_dir.mkdir(parents=True, exist_ok=True)
    bdd100k = result_format == BDD100K_FORMAT
    suffix = ".json" if bdd100k else ".txt"

    # Every input is read before the tracker is built: a malformed file fails in seconds.
    frames_of = {seq_dir: sequence_folder.sequence_frames(seq_dir) for seq_dir in seq_dirs}
    for seq_dir in seq_dirs:
        gt_file = (
            seq_dir / "gt" / "gt.txt"
            if gt_dir is None
            else pathlib.Path(gt_dir) / f"{seq_dir.name}.txt"
        )
        if gt_file.is_file():
            gt = mot_text.read_mot_file(gt_file)
            mot_text.check_unique_ids(gt_file, mot_text.table_rows(gt), "gt")

    def result_files(name: str) -> list[pathlib.Path]:
        return [out_dir / f"{name}{suffix}"] + ([out_dir / f"{name}.txt"] if bdd100k else [])

    def write_results(seq_dir: pathlib.Path, track_fn: TrackFn, *, progress: bool) -> int:
        """Runs `track_fn` over one sequence into its result files; returns its frames."""
        out_file = out_dir / f"{seq_dir.name}{suffix}"
        if bdd100k:
            return track_sequence_bdd100k(
                track_fn,
                frames_of[seq_dir],
                seq_dir.name,
                out_file,
                out_dir / f"{seq_dir.name}.txt",
                progress=progress,
            )
        return track_sequence(
            track_fn,
            frames_of[seq_dir],
            out_file,
            interval=interval,
            progress=progress,
            desc=seq_dir.name,
        )

    def to_track(own: list[str]) -> list[pathlib.Path]:
        """The sequences of `own` without a result file (all with `overwrite`); the result
        files of those are removed, so no stale file is left if tracking them fails now."""
        todo = []
        for seq_dir in seq_dirs:
            if seq_dir.name not in own:
                continue
            out_file = out_dir / f"{seq_dir.name}{suffix}"
            if out_file.exists() and not overwrite:
                logging.info(
                    "%s: %s exists, skipped (pass overwrite to redo)", seq_dir.name, out_file
                )
                continue
            for old in result_files(seq_dir.name):
                old.unlink(missing_ok=True)
            todo.append(seq_dir)
        return todo

    def track_one_by_one(
        todo: Iterable[pathlib.Path],
        track_fn: TrackFn,
        *,
        progress: bool,
        where: str = "",
        done=None,
    ) -> int:
        """Tracks the sequences `todo` one after the other; returns their frames. `where`
        names the device in the logs; `done()` is called after each sequence."""
        total_frames, total_seconds = 0, 0.0
        for seq_dir in todo:
            start = time.perf_counter()
            n = write_results(seq_dir, track_fn, progress=progress)
            seconds = time.perf_counter() - start
            total_frames, total_seconds = total_frames + n, total_seconds + seconds
            out_file = out_dir / f"{seq_dir.name}{suffix}"
            fps = n / max(seconds, 1e-9)
            logging.info("%s: %d frames, %.2f FPS%s -> %s", seq_dir.name, n, fps, where, out_file)
            if done is not None:
                done()
        if total_frames and not where:
            logging.info(
                "Tracked %d frames at %.2f FPS overall",
                total_frames,
                total_frames / max(total_seconds, 1e-9),
            )
        return total_frames

    def track_batched(
        todo: list[pathlib.Path],
        track_fn: StreamsTrackFn,
        *,
        progress: bool,
        where: str = "",
        done=None,
    ) -> int:
        """Tracks the sequences `todo` (grouped by frame size: a batch runs one size,
        `online.stream_loop`) `streams` at a time; returns their frames. `where`, `done`: as
        `track_one_by_one`."""

        def write(k: int, replay: TrackFn) -> None:
            n = write_results(todo[k], replay, progress=False)
            out_file = out_dir / f"{todo[k].name}{suffix}"
            logging.info("%s: %d frames%s -> %s", todo[k].name, n, where, out_file)
            if done is not None:
                done()

        start = time.perf_counter()
        n = track_in_streams(
            track_fn,
            [frames_of[d] for d in todo],
            write,
            [out_dir / f"{d.name}{suffix}" for d in todo],
            interval=interval,
            streams=streams,
            progress=progress,
        )
        logging.info(
            "Tracked %d sequences (%d frames) in %d streams%s at %.2f FPS overall",
            len(todo),
            n,
            streams,
            where,
            n / max(time.perf_counter() - start, 1e-9),
        )
        return n

    def track_on_workers(todo: list[pathlib.Path], track_fns: Sequence) -> None:
        """Tracks `todo` on the `workers` at once, one thread each (`device_workers`)."""
        if len(track_fns) != len(workers):
            raise ValueError(f"{len(workers)} workers, but {len(track_fns)} trackers were built")
        frames = [0] * len(workers)
        bar = tqdm.tqdm(total=len(todo), desc="sequences", unit="seq", disable=not progress)

        def work(k: int, seqs: Iterable[pathlib.Path], stop) -> None:
            track_fn = device_workers.stop_when(stop, track_fns[k])
            run = track_batched if streams > 1 else track_one_by_one
            frames[k] = run(
                list(seqs) if streams > 1 else seqs,
                track_fn,
                progress=False,
                where=f" on {workers[k]}",
                done=lambda: bar.update(1),  # tqdm's updates are thread-safe
            )

        start = time.perf_counter()
        try:
            device_workers.run_workers(todo, workers, work, shared=streams == 1)
        finally:
            bar.close()
        logging.info(
            "Tracked %d sequences (%d frames) on %d devices (%s) at %.2f FPS overall",
            len(todo),
            sum(frames),
            len(workers),
            ", ".join(workers),
            sum(frames) / max(time.perf_counter() - start, 1e-9),
        )

    def track(own: list[str]) -> None:
        """Tracks the sequences named `own` (this process's share) into their result files;
        builds the tracker only when one has to be tracked."""
        todo = to_track(own)
        if streams > 1:
            todo.sort(key=_frame_size)
        if not todo:
            return
        if workers is not None:
            return track_on_workers(todo, track_fn_factory())
        if streams > 1:
            track_batched(todo, track_fn_factory(), progress=progress)
        else:
            track_one_by_one(todo, track_fn_factory(), progress=progress)

    names = [d.name for d in seq_dirs]
    if not process_shards.track_then_gather(
        track, names, result_files, shard=shard, barrier=barrier
    ):
        return None  # process 0 scores

    if bdd100k:
        return _score_bdd100k_split(seq_dirs, out_dir, gt_dir, out_root / "gt_bdd100k")
    return _score_mot_split(seq_dirs, out_dir, gt_dir, out_root / "gt_mot", interval)


def _frame_size(seq_dir: pathlib.Path) -> tuple[int, int]:
    """(imHeight, imWidth) of the sequence's seqinfo.ini; (0, 0) when it does not say."""
    if (seq_dir / "seqinfo.ini").is_file():
        info = sequence_folder.read_seqinfo(seq_dir)
        return info.im_height or 0, info.im_width or 0
    return 0, 0


def _seq_length(seq_dir: pathlib.Path) -> int:
    """seqLength of the sequence's seqinfo.ini, else its number of frames (BFT)."""
    if (seq_dir / "seqinfo.ini").is_file():
        return sequence_folder.read_seqinfo(seq_dir).seq_length
    return len(sequence_folder.sequence_frames(seq_dir))


def _score_mot_split(seq_dirs, out_dir, gt_dir, converted_dir, interval):
    """MOT scores of the sequences with gt (`run_split`); None when none has any."""
    gt_files = {}
    for d in seq_dirs:
        if gt_dir is None:
            if (d / "gt" / "gt.txt").is_file():
                gt_files[d.name] = d / "gt" / "gt.txt"
        elif (pathlib.Path(gt_dir) / f"{d.name}.txt").is_file():
            gt_files[d.name] = converted_dir / f"{d.name}.txt"
            mot_gt_with_defaults(pathlib.Path(gt_dir) / f"{d.name}.txt", gt_files[d.name])
    if not gt_files:
        where = seq_dirs[0].parent if gt_dir is None else gt_dir
        logging.info("No ground truth under %s: results written, nothing scored", where)
        return None
    sequences = [
        metrics.SequenceFiles(
            name=d.name,
            gt_file=gt_files[d.name],
            tracker_file=out_dir / f"{d.name}.txt",
            seq_length=_seq_length(d),
        )
        for d in seq_dirs
        if d.name in gt_files
    ]
    scores = metrics.score_sequences(sequences, interval=interval)
    write_summary(out_dir, scores)
    logging.info("Scores (interval %d) written to %s", interval, out_dir / SUMMARY_JSON)
    return scores


def _score_bdd100k_split(seq_dirs, out_dir, gt_dir, converted_dir):
    """BDD100K scores of the videos (`run_split`); None without gt."""
    video_names = [d.name for d in seq_dirs]
    if gt_dir is None:
        with_gt = [d for d in seq_dirs if (d / "gt" / "gt.txt").is_file()]
        if not with_gt:
            logging.info(
                "No ground truth under %s: results written, nothing scored", seq_dirs[0].parent
            )
            return None
        gt_dir = converted_dir
        for d in with_gt:
            mot_gt_to_bdd100k(d, gt_dir / f"{d.name}.json")
        video_names = [d.name for d in with_gt]
    return score_bdd100k_results(gt_dir, out_dir, names=video_names)


def mot_gt_with_defaults(src: str | pathlib.Path, dst: str | pathlib.Path) -> int:
    """Copies a MOT gt file, writing 1 for the -1 ("unspecified") values of columns 7-9.

    BFT gt marks every box `-1,-1,-1` (no consider flag, class or visibility; the official
    evaluator scores its one class, bird, over every box). The MOT scorer reads column 7 as the
    consider flag and column 8 as the class (1 = the scored class): 1,1,1 counts every box as
    BFT does. Other values are kept. Returns the number of boxes.

    Raises:
      InputError: a missing file or a malformed line (`mot_text.read_mot_lines`).
    """
    lines = []
    for line in mot_text.read_mot_lines(src, columns=mot_text.GT_COLUMNS):
        fields = list(line.fields) + ["-1"] * (9 - len(line.fields))
        for i in (6, 7, 8):
            if float(fields[i]) == -1:
                fields[i] = "1"
        lines.append(",".join(fields) + "\n")
    write_text_atomic(pathlib.Path(dst), lines)
    return len(lines)


def bdd100k_result_rows(rows: Sequence[TrackRow]) -> list[bdd100k_json.ResultRow]:
    """`TrackFn` rows (id, x1, y1, w, h, score, label) as BDD100K result rows
    (id, label, x1, y1, x2, y2).

    The corners are float32 values and w = x2 - x1 was taken in double precision
    (`mot_text.mot_box_from_xyxy`), so rounding x1 + w to float32 gives back x2 exactly: the
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
      InputError: a frame cannot be read; the frames tracked before it are in
        `<out_json>.partial` and no `out_json` is left.
    """
    result_frames: list[bdd100k_json.ResultFrame] = []
    results = track_fn(list(frames), interval=1)
    try:
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
    except InputError as err:
        entries = [bdd100k_json.result_frame_dict(*f) for f in result_frames]
        done = len(result_frames)
        raise _stopped(err, out_json, [json.dumps(entries), "\n"], done, done + 1) from None
    if len(result_frames) != len(frames):
        raise ValueError(f"track_fn yielded {len(result_frames)} of {len(frames)} frames")
    bdd100k_json.write_bdd100k_results(out_json, result_frames)
    partial_path(out_json).unlink(missing_ok=True)
    if out_text is not None:
        bdd100k_json.write_bdd100k_mot_text(out_text, result_frames)
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
    frames = sequence_folder.sequence_frames(seq_dir)
    if not frames:
        raise InputError(f"{seq_dir}: no frames")
    labels: list[list[dict]] = [[] for _ in frames]
    n = 0
    for line in mot_text.read_mot_lines(gt_file, min_columns=8, columns=mot_text.GT_COLUMNS):
        frame, track_id = int(line.values[0]), int(line.values[1])
        x, y, w, h = line.values[2:6]
        consider, cls = int(line.values[6]), int(line.values[7])
        if not 1 <= frame <= len(frames):
            raise line.error(f"frame {frame} outside 1..{len(frames)}")
        if not 1 <= cls <= len(bdd100k_json.CATEGORIES):
            raise line.error(
                f"class {cls} has no BDD100K category (expected 1..{len(bdd100k_json.CATEGORIES)})"
            )
        if consider == 0:
            continue
        labels[frame - 1].append(
            {
                "id": str(track_id),
                "category": bdd100k_json.CATEGORIES[cls - 1],
                "box2d": {"x1": x, "y1": y, "x2": x + w, "y2": y + h},
                "attributes": {"occluded": False, "truncated": False, "crowd": False},
            }
        )
        n += 1
    entries = [
        {"name": f.name, "videoName": seq_dir.name, "frameIndex": i, "labels": labels[i]}
        for i, f in enumerate(frames)
    ]
    write_text_atomic(out_file, [json.dumps(entries), "\n"])
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
    """`run_split` with `result_format='bdd100k'`: json + MOT text with the class column,
    TETA and the BDD100K metrics (module docstring)."""
    return run_split(
        track_fn_factory,
        split_dir,
        workdir,
        seqmap=seqmap,
        gt_dir=gt_dir,
        result_format=BDD100K_FORMAT,
        overwrite=overwrite,
        progress=progress,
    )


def is_bdd100k(config) -> bool:
    """True when the config's dataset is BDD100K (results as json, scored with TETA)."""
    return config.data.dataset == BDD100K


def default_result_format(config) -> str:
    """'bdd100k' for the BDD100K dataset or a multi-class model (the MOT scorer knows one
    class), else 'mot'."""
    num_classes = (config.get("model") or {}).get("num_classes", 1)
    return BDD100K_FORMAT if is_bdd100k(config) or num_classes > 1 else MOT_FORMAT


def split_paths(
    data_root: str | pathlib.Path, dataset: str, split: str
) -> tuple[pathlib.Path, pathlib.Path | None]:
    """(split folder, seqmap or None) for a dataset split.

    The official layout is `<data_root>/<dataset>/<split>` with the seqmap
    `<data_root>/<dataset>/<split>_seqmap.txt`; MOT17's `<data_root>/<dataset>/images/<split>`
    (seqmap beside it, as `data_pipeline.dataset_layouts.dataset_dir`), and a `data_root` that already
    is the dataset folder (`<data_root>/<split>`) are accepted too. A missing seqmap means every
    sequence folder.

    Raises:
      InputError: no such folder exists.
    """
    data_root = pathlib.Path(data_root)
    candidates = [data_root / dataset / split, data_root / dataset / "images" / split]
    candidates.append(data_root / split)
    for split_dir in candidates:
        if split_dir.is_dir():
            seqmap = split_dir.parent / f"{split}_seqmap.txt"
            return split_dir, (seqmap if seqmap.is_file() else None)
    raise InputError(
        f"split folder not found: looked for {candidates[0]} and {candidates[2]}; set "
        "--config.data.root to the folder holding the dataset"
    )


@dataclasses.dataclass(frozen=True)
class EvalSplit:
    """A split to track and score and how (`find_split`); the `run_split` arguments."""

    split_dir: pathlib.Path  # folder of sequence folders; its name names the output folder
    seqmap: pathlib.Path | None  # names the sequences; None: every sequence folder
    gt_dir: pathlib.Path | None  # per-sequence gt files (BFT, BDD100K); None: in the sequences
    result_format: str  # 'mot' | 'bdd100k'

    def run_args(self) -> dict:
        return dict(seqmap=self.seqmap, gt_dir=self.gt_dir, result_format=self.result_format)


def find_split(
    config, split: str, *, data_root: str | None = None, result_format: str | None = None
) -> EvalSplit:
    """Where `split` of `config.data.dataset` is, and the result format to track it in.

    Layouts: BDD100K `images/track/<split>` + `labels/box_track_20/<split>` (`bdd100k_split_paths`);
    MOT `<dataset>/<split>/<seq>/` (`split_paths`) with gt in the sequences (`gt/gt.txt`) or, as
    BFT, in `<dataset>/annotations_mot/<split>/<seq>.txt`. `config.eval.seqmap` wins over the
    seqmap found beside the split.

    Args:
      data_root: the folder holding the dataset folder (default `config.data.root`).
      result_format: 'mot' | 'bdd100k'; None: `default_result_format(config)`.

    Raises:
      InputError: no data root, an unknown format, or no such split folder.
    """
    data_root = data_root or config.data.get("root")
    if not data_root:
        raise InputError("config.data.root is not set; pass --config.data.root=DIR")
    result_format = result_format or default_result_format(config)
    if result_format not in RESULT_FORMATS:
        raise InputError(f"result format must be 'mot' or 'bdd100k', got {result_format!r}")
    dataset = config.data.dataset
    if result_format == BDD100K_FORMAT:
        split_dir, gt_dir = bdd100k_split_paths(data_root, dataset, split)
        seqmap = None
    else:
        split_dir, seqmap = split_paths(data_root, dataset, split)
        gt_dir = split_dir.parent / "annotations_mot" / split
        gt_dir = gt_dir if gt_dir.is_dir() else None
    eval_config = config.get("eval") or {}
    if eval_config.get("seqmap"):
        seqmap = pathlib.Path(eval_config["seqmap"])
    return EvalSplit(split_dir, seqmap, gt_dir, result_format)


def scalar_scores(scores: metrics.Scores, result_format: str) -> dict[str, float]:
    """The scores to log: COMBINED (HOTA, DetA, ...) for MOT, `BDD100K_SUMMARY_KEYS` (mTETA,
    mHOTA, ...) for BDD100K."""
    if result_format == BDD100K_FORMAT:
        return {k: float(scores.summary[k]) for k in metrics.BDD100K_SUMMARY_KEYS}
    return {k: float(v) for k, v in scores.summary[metrics.COMBINED].items()}


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
    streams: int = 1,
    workers: Sequence[str] | None = None,
) -> metrics.Scores | None:
    """`eval.py`'s tracking mode: runs a checkpoint over a dataset split and scores it.

    `result_format`: 'mot' (MOT text, HOTA/MOTA/IDF1) or 'bdd100k' (json + MOT text with the
    class column, TETA and the BDD100K metrics); None: `default_result_format(config)`. The
    split is found by `find_split`, tracked and scored by `run_split`; in a multi-process run
    (`runtime.distributed.initialize`) each process tracks its share of the sequences and
    process 0 scores (the others return None).

    Config fields read (ml_collections.ConfigDict):
      data.root: folder holding the dataset folder (official DATA_ROOT), or the dataset folder.
      data.dataset: dataset folder name, e.g. 'DanceTrack'.
      eval.interval (optional, default 1): official EVAL_INTERVAL; the `interval` argument wins.
      eval.seqmap (optional, default ''): seqmap file; '' uses `<split>_seqmap.txt` beside the
        split folder when present, else every sequence folder.

    Args:
      build_track_fn: `(config, checkpoint_dir) -> TrackFn` (a `StreamsTrackFn` when
        `streams` > 1; with `workers`, a list of them, one per worker); called at most once,
        lazily.
      streams: track each process's sequences this many at a time (`run_split`).
      workers: the names of the process's devices that track at once (`run_split`).

    Raises:
      InputError: missing checkpoint, data root, split folder, seqmap or frames.
    """
    checkpoint_dir = pathlib.Path(checkpoint_dir)
    if not checkpoint_dir.exists():
        raise InputError(
            f"{checkpoint_dir}: checkpoint not found; pass --checkpoint=DIR with a checkpoint "
            "written by train.py (or official weights converted to one)"
        )
    eval_config = config.get("eval") or {}
    if interval is None:
        interval = int(eval_config.get("interval", 1))
    where = find_split(config, split, result_format=result_format)
    check_interval(where.result_format, interval)
    return run_split(
        lambda: build_track_fn(config, checkpoint_dir),
        where.split_dir,
        workdir,
        **where.run_args(),
        interval=interval,
        overwrite=overwrite,
        progress=progress,
        shard=(distributed.process_index(), distributed.process_count()),
        barrier=distributed.barrier,
        streams=streams,
        workers=workers,
    )
