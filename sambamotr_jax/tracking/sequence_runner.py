"""Tracking a sequence into MOT lines (library behind `track.py`, `eval.py` and the demo).

Inputs (`open_input`): a sequence folder (`img1/` inside), a folder of .jpg/.png frames, or a
video file (`formats.video_file`: any container FFmpeg reads; a frame that cannot be decoded is
one warning line and is skipped, the frames after it keep their own numbers). `mot_lines` (one
frame's rows as the official Submitter writes them) lives in `online.frame_loop`, shared with the
artifact runner.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
from collections.abc import Iterator

import jax
import numpy as np
import tqdm
from flax import traverse_util

from sambamotr_jax.formats import frame_images, mot_text, sequence_folder, video_file
from sambamotr_jax.formats.atomic_write import partial_path, write_partial, write_text_atomic
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.online.frame_loop import FrameTracks, every_kth, mot_lines
from sambamotr_jax.tracking.tracker import Tracker
from sambamotr_jax.weights import converted_checkpoint


@dataclasses.dataclass
class InputFrames:
    """The frames of a tracker input, read lazily (one at a time).

    Attributes:
      name: the input's name (folder or file stem), for progress bars.
      fps: frames per second: the video's, seqinfo.ini's frameRate, else 20.
      count: the number of frames `frames` yields, None when a video does not say.
      frames: (0-based index of the frame in the input, (H, W, 3) uint8 RGB frame) in order.
    """

    name: str
    fps: float
    count: int | None
    frames: Iterator[tuple[int, np.ndarray]]


def open_input(
    source: str | pathlib.Path, *, interval: int = 1, max_frames: int | None = None
) -> InputFrames:
    """Opens a sequence folder, a frames folder or a video file; checks it now, reads lazily.

    Args:
      source: the input.
      interval: keep every `interval`-th frame (0, k, 2k, ...; for folders as the official
        SeqDataset: the last incomplete group is dropped).
      max_frames: read only the input's first `max_frames` frames (None: all).

    Raises:
      InputError: the input is missing, an empty folder, an empty or unreadable file.
    """
    source = pathlib.Path(source)
    limit = None if max_frames is None else max(int(max_frames), 0)
    if source.is_dir():
        fps = video_file.DEFAULT_FPS
        for ini_dir in (source, source.parent):
            if (ini_dir / sequence_folder.SEQINFO).is_file():
                fps = sequence_folder.read_seqinfo(ini_dir).frame_rate or fps
                break
        paths = sequence_folder.sequence_frames(source)[:limit]
        if interval > 1:
            paths = paths[: len(paths) // interval * interval : interval]
        frames = ((i * interval, frame_images.read_rgb(p)) for i, p in enumerate(paths))
        return InputFrames(source.name, fps, len(paths), frames)
    if not source.exists():
        raise InputError(
            f"{source}: not found; give a sequence folder, a folder of frames or a video file"
        )
    video = video_file.open_video(source)
    total = video.num_frames
    if limit is not None:
        total = limit if total is None else min(total, limit)

    def frames():
        for frame in video.frames():
            if limit is not None and frame.index >= limit:
                break
            if frame.index % interval == 0:
                yield frame.index, frame.rgb

    count = None if total is None else -(-total // interval)
    return InputFrames(source.stem, video.fps, count, frames())


def track_input(tracker: Tracker, source: InputFrames) -> Iterator[tuple[FrameTracks, np.ndarray]]:
    """(the frame's tracks, its RGB frame) for each frame of `source`, in order.

    A result's `index` is the frame's index in the input (so a skipped undecodable video frame
    leaves a gap, not a shift). At most two frames are held at once.
    """
    fed: collections.deque = collections.deque()

    def feed():
        for index, rgb in source.frames:
            fed.append((index, rgb))
            yield rgb

    for tracks in tracker.track_frames(feed()):
        index, rgb = fed.popleft()
        yield dataclasses.replace(tracks, index=index), rgb


def track_to_file(
    config,
    checkpoint: str,
    source: str,
    output: str,
    *,
    interval: int = 1,
    max_frames: int | None = None,
):
    """Tracks `source` (`open_input`) and writes the MOT result file `output` atomically;
    returns (frames tracked, lines written). MOT frame numbers are input frame index + 1.

    A frame that cannot be read stops tracking: the lines of the frames tracked before it go to
    `<output>.partial` (`atomic_write.write_partial`), no `output` is left, and the InputError
    names the frame, the problem and the partial file.
    """
    frames = open_input(source, interval=interval, max_frames=max_frames)  # before the model
    tracker = Tracker.from_checkpoint(config, checkpoint)
    n_tracked = 0
    last_index = -interval  # input index of the last frame tracked
    lines: list[str] = []
    bar = tqdm.tqdm(
        track_input(tracker, frames), total=frames.count, desc=frames.name, unit="frame"
    )
    try:
        for tracks, _ in bar:
            lines += mot_lines(tracks)
            n_tracked += 1
            last_index = tracks.index
    except InputError as err:
        bar.close()
        partial = write_partial(output, lines)
        raise InputError(
            f"{err}; tracking stopped at frame {last_index + interval + 1} of {source}: the "
            f"{len(lines)} lines of the {n_tracked} frames tracked before it are in {partial} "
            f"({output} not written)"
        ) from None
    write_text_atomic(output, lines)
    partial_path(output).unlink(missing_ok=True)
    return n_tracked, len(lines)


def track_rows(frame: FrameTracks) -> list[tuple]:
    """One frame's tracks as eval rows (id, x1, y1, w, h, score, label), original pixels.

    `label` (0-based class the track was born with, official `TrackInstances.labels`) comes
    last, so readers of the first six fields (MOT results, drawing) see the rows they always saw.
    """
    rows = []
    for tid, score, label, (x1, y1, x2, y2) in zip(
        frame.ids.tolist(),
        frame.scores.tolist(),
        frame.labels.tolist(),
        frame.boxes_xyxy.tolist(),
    ):
        rows.append((tid, *mot_text.mot_box_from_xyxy(x1, y1, x2, y2), score, label))
    return rows


def make_track_fn(config, checkpoint_dir: str):
    """The tracker as eval_lib expects it: `track_fn(frame_paths, *, interval)` yielding
    (1-based frame number, `track_rows`) for each tracked frame."""
    return _track_fn(Tracker.from_checkpoint(config, checkpoint_dir))


def make_streams_track_fn(config, checkpoint_dir: str):
    """The tracker over several sequences at once (`Tracker.track_streams`), as eval_lib's
    `StreamsTrackFn`: `track_streams_fn(frame_path_lists, *, interval, streams)` yielding
    (index of the sequence, 1-based frame number, `track_rows`), each sequence's frames in order.
    """
    return _streams_track_fn(Tracker.from_checkpoint(config, checkpoint_dir))


def make_device_track_fns(config, checkpoint_dir: str, devices, *, streams: int = 1) -> list:
    """One tracker per device, for tracking on several devices at once (`eval.py --devices`).

    The checkpoint is read once; each tracker gets its own copy of the variables on its device
    (`jax.device_put`), so its jitted steps run there (a computation runs where its committed
    inputs live; the frames and a fresh track state are uncommitted and follow them). A
    one-stream tracker checks after each sequence that its track state is on its device.

    Returns:
      `make_track_fn`'s TrackFn (with `streams` > 1, `make_streams_track_fn`'s
      StreamsTrackFn) for each device, in order.
    """
    variables = Tracker.from_checkpoint(config, checkpoint_dir).variables
    trackers = [Tracker(config, jax.device_put(variables, device)) for device in devices]
    if streams > 1:
        return [_streams_track_fn(tracker) for tracker in trackers]
    return [_track_fn(tracker, device) for tracker, device in zip(trackers, devices)]


def _track_fn(tracker: Tracker, device=None):
    def track_fn(frames: list[pathlib.Path], *, interval: int = 1) -> Iterator:
        for frame in tracker.track_paths(frames, interval=interval):
            yield frame.index + 1, track_rows(frame)
        if device is not None and tracker.state is not None:
            placed = {d for x in jax.tree.leaves(tracker.state) for d in x.devices()}
            if placed != {device}:
                raise RuntimeError(
                    f"the tracker of {device} ran on {sorted(map(str, placed))}: its variables "
                    "do not decide where its steps run"
                )

    return track_fn


def _streams_track_fn(tracker: Tracker):
    def track_streams_fn(
        sequences: list[list[pathlib.Path]], *, interval: int = 1, streams: int
    ) -> Iterator:
        sources = (
            (frame_images.read_rgb(p) for p in every_kth(frames, interval)) for frames in sequences
        )
        for k, frame in tracker.track_streams(sources, streams=streams, interval=interval):
            yield k, frame.index + 1, track_rows(frame)

    return track_streams_fn


def config_from_checkpoint(base_config, checkpoint_dir: str):
    """`base_config` (a full experiment config) with `model` taken from the checkpoint's
    model.json, for running a checkpoint without its experiment file."""
    config = base_config.copy_and_resolve_references()
    saved = converted_checkpoint.load_model_config(checkpoint_dir)
    config.model.update_from_flattened_dict(traverse_util.flatten_dict(saved, sep="."))
    return config
