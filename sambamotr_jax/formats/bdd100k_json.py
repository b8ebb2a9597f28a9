"""BDD100K box-tracking files: the scalabel json frame lists (results and ground truth).

One json file per video (sequence), as the official Submitter writes results and as the
BDD100K labels `labels/box_track_20/{split}/{video}.json` come:

    [{"name": "b1c66a42-6f7d68ca-0000001.jpg", "videoName": "b1c66a42-6f7d68ca",
      "frameIndex": 0,
      "labels": [{"id": "3", "category": "car",
                  "box2d": {"x1": 10.5, "y1": 20.0, "x2": 50.25, "y2": 80.0},
                  "attributes": {"occluded": false, "truncated": false, "crowd": false}}]},
     ...]

`frameIndex` is 0-based, `id` a string, boxes are corners in original-image pixels. Result files
have no `attributes`. The 8 evaluated categories, in MeMOTR's label order (label index 0..7;
the official Submitter's `bdd_cls2label` numbers them 1..8), are `CATEGORIES`. Ground truth may
also hold the distractor categories `DISTRACTORS` and boxes flagged `attributes.crowd`; both
are ignore regions for scoring (see `sambamotr_jax.evaluation.teta`).

Besides the json, `write_bdd100k_mot_text` writes the same results as MOT text with a class
column:

    frame,id,x1,y1,w,h,1,class,-1,-1

with `frame = frameIndex + 1`, `w = x2 - x1`, `h = y2 - y1` and `class` the official label
1..8 (`CATEGORIES.index(category) + 1`), in the column where MOT ground truth keeps its class.

`training_gt` turns ground truth into the training boxes of the official gen_bdd100k_gts.py.

Every problem with an input file raises `InputError` naming the file, the frame entry and the
label entry.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
from collections.abc import Callable, Iterable, Sequence

from sambamotr_jax.formats import mot_text
from sambamotr_jax.formats.atomic_write import write_text_atomic
from sambamotr_jax.formats.errors import InputError

# Label index 0..7 -> category (official label 1..8).
CATEGORIES = (
    "pedestrian",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
# Ground-truth categories that are not evaluated; their boxes are ignore regions.
DISTRACTORS = ("other person", "other vehicle", "trailer")

# (track id, label index 0..7, x1, y1, x2, y2) in original-image pixels.
ResultRow = tuple[int, int, float, float, float, float]
# (frame index (0-based), image name, video name, rows).
ResultFrame = tuple[int, str, str, Sequence[ResultRow]]


@dataclasses.dataclass(frozen=True)
class Label:
    """One box of a frame.

    Attributes:
      id: the track id as written in the file (a string).
      category: one of `CATEGORIES` (or `DISTRACTORS` in ground truth).
      box: (x1, y1, x2, y2) corners in pixels.
      crowd: ground truth `attributes.crowd` (always False for results).
    """

    id: str
    category: str
    box: tuple[float, float, float, float]
    crowd: bool = False

    @property
    def ignore_region(self) -> bool:
        """True for a crowd box or a distractor: scored as a region to ignore, not as an object."""
        return self.crowd or self.category in DISTRACTORS


@dataclasses.dataclass(frozen=True)
class Frame:
    """One frame entry of a file: `name`, `videoName`, `frameIndex` and its labels."""

    name: str
    video_name: str
    frame_index: int
    labels: tuple[Label, ...]


@dataclasses.dataclass(frozen=True)
class Video:
    """The frames of one file, sorted by frame index (indices unique)."""

    path: pathlib.Path
    frames: tuple[Frame, ...]

    @property
    def frame_indices(self) -> list[int]:
        return [f.frame_index for f in self.frames]


# --------------------------------------------------------------------------------------------
# Writing.


def result_frame_dict(frame_index: int, name: str, video_name: str, rows: Iterable[ResultRow]):
    """One frame of the official result json (`Submitter.update_results`).

    Box corners are written as Python floats (numpy float32 values go through `float`, which is
    exact, as the official `.tolist()`); ids as decimal strings.
    """
    labels = []
    for track_id, label_index, x1, y1, x2, y2 in rows:
        label_index = int(label_index)
        if not 0 <= label_index < len(CATEGORIES):
            raise ValueError(f"label index must be in 0..{len(CATEGORIES) - 1}, got {label_index}")
        labels.append(
            {
                "id": str(int(track_id)),
                "category": CATEGORIES[label_index],
                "box2d": {"x1": float(x1), "y1": float(y1), "x2": float(x2), "y2": float(y2)},
            }
        )
    return {"name": name, "videoName": video_name, "frameIndex": int(frame_index), "labels": labels}


def write_bdd100k_results(path: str | os.PathLike, frames: Iterable[ResultFrame]) -> None:
    """Writes one video's results as the official json frame list, atomically.

    Args:
      path: the `<video>.json` file to write.
      frames: (frame index (0-based), image name, video name, [(id, label index 0..7, x1, y1,
        x2, y2), ...]) for every processed frame, in order; a frame without boxes still gets
        its entry (the evaluation needs every frame).
    """
    entries = [result_frame_dict(*frame) for frame in frames]
    write_text_atomic(path, [json.dumps(entries), "\n"])


def write_bdd100k_mot_text(path: str | os.PathLike, frames: Iterable[ResultFrame]) -> None:
    """Writes the same results as MOT text `frame,id,x1,y1,w,h,1,class,-1,-1` (class 1..8,
    frame = frame index + 1), atomically; see the module docstring."""
    lines = []
    for frame_index, _name, _video, rows in frames:
        for track_id, label_index, x1, y1, x2, y2 in rows:
            label_index = int(label_index)
            if not 0 <= label_index < len(CATEGORIES):
                raise ValueError(f"label index must be in 0..{len(CATEGORIES) - 1}")
            x1, y1, w, h = mot_text.mot_box_from_xyxy(x1, y1, x2, y2)
            lines.append(
                f"{int(frame_index) + 1},{int(track_id)},{x1},{y1},{w},{h},1,{label_index + 1},-1,-1\n"
            )
    write_text_atomic(path, lines)


# --------------------------------------------------------------------------------------------
# Reading.


def read_bdd100k_json(path: str | os.PathLike, *, is_gt: bool) -> Video:
    """Reads one video's json frame list (results or ground truth) and checks every entry.

    Accepts `frameIndex` (or the older `index`) and `attributes.crowd` (or `Crowd`).

    Raises:
      InputError: missing or unreadable file, or an entry that is malformed: not a frame list,
        an unknown category (results: one of `CATEGORIES`; ground truth: also `DISTRACTORS`),
        a missing or non-finite box corner, a missing id, an id twice in a frame, a frame index
        twice, frames of different videos. The message names the file and the entry.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid json ({err}); regenerate the file") from None
    if not isinstance(data, list):
        raise InputError(
            f"{path}: expected a json list of frames "
            "({name, videoName, frameIndex, labels}), got a " + type(data).__name__
        )
    allowed = CATEGORIES + DISTRACTORS if is_gt else CATEGORIES
    frames = []
    for i, entry in enumerate(data):
        frames.append(_parse_frame(path, i, entry, allowed))
    frames.sort(key=lambda f: f.frame_index)
    for previous, frame in zip(frames, frames[1:]):
        if frame.frame_index == previous.frame_index:
            raise InputError(
                f"{path}: frameIndex {frame.frame_index} appears twice "
                f"({previous.name!r} and {frame.name!r}); one entry per frame"
            )
    videos = sorted({f.video_name for f in frames})
    if len(videos) > 1:
        raise InputError(f"{path}: frames of several videos {videos}; one file per video")
    return Video(path=path, frames=tuple(frames))


def _parse_frame(path: pathlib.Path, i: int, entry, allowed: tuple[str, ...]) -> Frame:
    where = f"{path}: frame entry {i}"
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected an object, got {entry!r:.80}")
    name = entry.get("name", "")
    where = f"{path}: frame entry {i} ({name!r})"
    index = entry.get("frameIndex", entry.get("index"))
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise InputError(f"{where}: 'frameIndex' must be an integer >= 0, got {index!r}")
    video_name = entry.get("videoName")
    if not isinstance(video_name, str):
        raise InputError(f"{where}: 'videoName' must be a string, got {video_name!r}")
    raw_labels = entry.get("labels") or []
    if not isinstance(raw_labels, list):
        raise InputError(f"{where}: 'labels' must be a list")
    labels, seen = [], set()
    for j, raw in enumerate(raw_labels):
        label = _parse_label(f"{where}, label {j}", raw, allowed)
        if label.id in seen:
            raise InputError(f"{where}, label {j}: id {label.id!r} twice in this frame")
        seen.add(label.id)
        labels.append(label)
    return Frame(name=str(name), video_name=video_name, frame_index=index, labels=tuple(labels))


def _parse_label(where: str, raw, allowed: tuple[str, ...]) -> Label:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected an object, got {raw!r:.80}")
    category = raw.get("category")
    if category not in allowed:
        raise InputError(
            f"{where}: unknown category {category!r}; expected one of {', '.join(allowed)}"
        )
    track_id = raw.get("id")
    if isinstance(track_id, bool) or not isinstance(track_id, (str, int)) or track_id == "":
        raise InputError(f"{where}: 'id' must be a non-empty string, got {track_id!r}")
    box2d = raw.get("box2d")
    if not isinstance(box2d, dict):
        raise InputError(f"{where}: no 'box2d' {{x1, y1, x2, y2}}")
    box = []
    for key in ("x1", "y1", "x2", "y2"):
        value = box2d.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise InputError(f"{where}: box2d.{key} must be a finite number, got {value!r}")
        box.append(float(value))
    attributes = raw.get("attributes") or {}
    crowd = bool(attributes.get("crowd", attributes.get("Crowd", False)))
    return Label(id=str(track_id), category=category, box=tuple(box), crowd=crowd)


def check_same_frames(gt: Video, result: Video) -> None:
    """Raises InputError unless `result` has exactly the frames (frame indices) of `gt`: the
    official evaluation pairs frames by position and needs an entry for every frame."""
    gt_indices, result_indices = set(gt.frame_indices), set(result.frame_indices)
    missing = sorted(gt_indices - result_indices)
    if missing:
        first = next(f for f in gt.frames if f.frame_index == missing[0])
        raise InputError(
            f"{result.path}: no entry for frameIndex {missing[0]} ({first.name!r}) of "
            f"{gt.path} ({len(missing)} frame(s) missing: {missing[:10]}); write an entry, "
            "with empty labels if need be, for every frame"
        )
    extra = sorted(result_indices - gt_indices)
    if extra:
        frame = next(f for f in result.frames if f.frame_index == extra[0])
        raise InputError(
            f"{result.path}: frame entry frameIndex {extra[0]} ({frame.name!r}) is not a frame "
            f"of {gt.path}; the result does not belong to this video"
        )


# (track id, x, y, w, h, label index 0..7): top-left corner and size in pixels.
TrainingBox = tuple[int, float, float, float, float, int]


def training_gt(
    video: Video, keep_box: Callable[[str, float, float], bool] | None = None
) -> dict[str, list[TrainingBox]]:
    """Frame file name -> training boxes, as the official gen_bdd100k_gts.py (filter_crowd,
    filter_ignore) and its loader.

    Crowd boxes and the distractor categories are dropped; box = (x1, y1, x2 - x1, y2 - y1)
    computed through the centre and printed with 6 decimals; the track id is the integer of the
    string id. Frames with an empty label list are absent; frames whose boxes were all dropped
    map to [] (the official loader treats both as frames without objects).

    `keep_box(where, w, h)`, when given, is asked about every kept box; the boxes it refuses
    are left out too (`where` names the file, the frame and the label).

    Raises:
      InputError: a track id that is not an integer (names the file and the frame).
    """
    out = {}
    for frame in video.frames:
        if not frame.labels:
            continue
        rows = []
        for j, label in enumerate(frame.labels):
            if label.crowd or label.category not in CATEGORIES:
                continue
            x1, y1, x2, y2 = label.box
            w, h = x2 - x1, y2 - y1
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            x, y, w, h = (float(f"{v:.6f}") for v in (cx - 0.5 * w, cy - 0.5 * h, w, h))
            try:
                track_id = int(label.id)
            except ValueError:
                raise InputError(
                    f"{video.path}: frame {frame.name!r}, label {j}: id {label.id!r} is not an "
                    "integer; training needs integer track ids"
                ) from None
            where = f"{video.path}: frame {frame.name!r}, label {j} (id {label.id!r})"
            if keep_box is not None and not keep_box(where, w, h):
                continue
            rows.append((track_id, x, y, w, h, CATEGORIES.index(label.category)))
        out[frame.name] = rows
    return out


def integer_ids(video: Video) -> dict[str, int]:
    """Integer track ids for a video's string ids, as scalabel's `label_ids_to_int`: the ids'
    own values when all are decimal digits, else 1, 2, ... in sorted string order."""
    ids = sorted({label.id for frame in video.frames for label in frame.labels})
    if all(i.isdigit() for i in ids):
        return {i: int(i) for i in ids}
    return {i: n + 1 for n, i in enumerate(ids)}
