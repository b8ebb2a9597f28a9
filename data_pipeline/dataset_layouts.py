"""Reading the official dataset layouts from disk: seqmaps, seqinfo.ini, gt files, frames.

Everything that touches the raw files lives here, so both the record builders (`builders.py`)
and the inference/eval sequence reader use the same parsing and the same error messages. Every
malformed input raises `DataFormatError` naming the file (and the line, for text files).

Layouts (``root`` is the folder that holds the dataset folders):

  DanceTrack / SportsMOT / SyntheticMOT:
      root/<Name>/<split>_seqmap.txt            ("name" header, then one sequence per line)
      root/<Name>/<split>/<seq>/img1/<frame>.jpg
      root/<Name>/<split>/<seq>/gt/gt.txt       (absent for the test split)
      root/<Name>/<split>/<seq>/seqinfo.ini
  BFT:
      root/BFT/<split>_seqmap.txt
      root/BFT/<split>/<seq>/<frame>.jpg         (frames directly in the sequence folder)
      root/BFT/annotations_mot/<split>/<seq>.txt
  MOT17 (SambaMOTR's ``images/`` layout, or the MOTChallenge zip layout without it):
      root/MOT17[/images]/<split>_seqmap.txt
      root/MOT17[/images]/<split>/<seq>/{img1,gt/gt.txt,seqinfo.ini}
  CrowdHuman:
      root/CrowdHuman/annotation_<split>.odgt
      root/CrowdHuman/images/<split>/<ID>.jpg   (or the zip layout root/CrowdHuman/Images/<ID>.jpg)
  BDD100K (MOT 2020 tracking labels):
      root/BDD100K/labels/box_track_20/<split>/<video>.json
      root/BDD100K/images/track/<split>/<video>/<video>-<frame:07d>.jpg

gt boxes are kept as the files give them: (x, y, w, h) of the top-left corner in pixels.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import math
import os

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

# BDD100K: the 8 evaluated classes; the official converter drops every other category
# ('other person', 'other vehicle', 'trailer') and crowd boxes (gen_bdd100k_gts.py with
# filter_crowd=True, filter_ignore=True), then the loader subtracts 1 from its 1-based ids.
BDD100K_CLASSES = (
    "pedestrian",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)


class DataFormatError(ValueError):
    """A dataset file is missing or malformed; the message names the file (and line)."""


@dataclasses.dataclass(frozen=True)
class SeqInfo:
    """The [Sequence] section of a MOT seqinfo.ini."""

    name: str
    frame_rate: float
    width: int
    height: int
    length: int
    im_ext: str = ".jpg"


@dataclasses.dataclass(frozen=True)
class FrameAnnotations:
    """Ground truth of one frame. N objects; boxes (N, 4) float32 pixel (x, y, w, h)."""

    boxes: np.ndarray  # (N, 4) float32, top-left x, y, width, height in pixels
    ids: np.ndarray  # (N,) int32 track ids
    labels: np.ndarray  # (N,) int32 class labels, 0-based
    visibility: np.ndarray  # (N,) float32 (MOT17 column 9; 1 elsewhere)


def empty_annotations() -> FrameAnnotations:
    return FrameAnnotations(
        boxes=np.zeros((0, 4), np.float32),
        ids=np.zeros((0,), np.int32),
        labels=np.zeros((0,), np.int32),
        visibility=np.zeros((0,), np.float32),
    )


def _stack(rows: list[tuple[int, float, float, float, float, int, float]]) -> FrameAnnotations:
    """rows of (id, x, y, w, h, label, visibility) -> FrameAnnotations."""
    if not rows:
        return empty_annotations()
    arr = np.asarray(rows, np.float64)  # (N, 7)
    return FrameAnnotations(
        boxes=arr[:, 1:5].astype(np.float32),
        ids=arr[:, 0].astype(np.int32),
        labels=arr[:, 5].astype(np.int32),
        visibility=arr[:, 6].astype(np.float32),
    )


@dataclasses.dataclass(frozen=True)
class Sequence:
    """One video as the inference/eval code reads it.

    frame_paths[i] is the image of MOT frame number frames[i] (1-based, sorted). gt maps a frame
    number to its annotations (frames without objects are absent); None when the split has no
    ground truth (test splits).
    """

    name: str
    frames: tuple[int, ...]
    frame_paths: tuple[str, ...]
    info: SeqInfo
    gt: dict[int, FrameAnnotations] | None


# ---------------------------------------------------------------------------------------------
# Small files.


def read_seqmap(path: str) -> list[str]:
    """Sequence names of a TrackEval seqmap (first line is the header 'name')."""
    if not os.path.isfile(path):
        raise DataFormatError(f"{path}: seqmap file not found")
    names = []
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            name = line.strip()
            if not name:
                continue
            if lineno == 1 and name == "name":
                continue
            if "," in name or " " in name:
                raise DataFormatError(f"{path}:{lineno}: malformed seqmap line {line.rstrip()!r}")
            names.append(name)
    if not names:
        raise DataFormatError(f"{path}: seqmap lists no sequence")
    return names


def read_seqinfo(path: str) -> SeqInfo:
    """Parses seqinfo.ini ([Sequence] name, frameRate, seqLength, imWidth, imHeight, imExt)."""
    if not os.path.isfile(path):
        raise DataFormatError(f"{path}: seqinfo.ini not found")
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
        sec = parser["Sequence"]
        return SeqInfo(
            name=sec.get("name", os.path.basename(os.path.dirname(path))),
            frame_rate=float(sec["frameRate"]),
            width=int(sec["imWidth"]),
            height=int(sec["imHeight"]),
            length=int(sec["seqLength"]),
            im_ext=sec.get("imExt", ".jpg"),
        )
    except (KeyError, ValueError, configparser.Error) as e:
        raise DataFormatError(f"{path}: malformed seqinfo.ini ({e!r})") from e


def write_seqinfo(path: str, info: SeqInfo, im_dir: str = "img1") -> None:
    with open(path, "w") as f:
        f.write(
            "[Sequence]\n"
            f"name={info.name}\nimDir={im_dir}\nframeRate={info.frame_rate:g}\n"
            f"seqLength={info.length}\nimWidth={info.width}\nimHeight={info.height}\n"
            f"imExt={info.im_ext}\n"
        )


def list_frames(image_dir: str) -> dict[int, str]:
    """Frame number (the file stem as an integer) -> image path, for .jpg/.png files."""
    if not os.path.isdir(image_dir):
        raise DataFormatError(f"{image_dir}: image folder not found")
    frames = {}
    for fname in os.listdir(image_dir):
        stem, ext = os.path.splitext(fname)
        if ext.lower() not in IMAGE_EXTENSIONS:
            continue
        digits = stem.rsplit("-", 1)[-1]  # BDD100K: <video>-<frame:07d>.jpg
        if not digits.isdigit():
            raise DataFormatError(f"{os.path.join(image_dir, fname)}: frame name is not a number")
        frames[int(digits)] = os.path.join(image_dir, fname)
    return frames


def image_size(path: str) -> tuple[int, int]:
    """(height, width) from the image header, without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError) as e:
        raise DataFormatError(f"{path}: unreadable image ({e})") from e
    return h, w


# ---------------------------------------------------------------------------------------------
# gt files.


def _mot_fields(path: str, lineno: int, line: str) -> list[str]:
    fields = [s.strip() for s in line.strip().split(",")]
    if len(fields) < 9:
        raise DataFormatError(
            f"{path}:{lineno}: malformed gt line {line.rstrip()!r} (expected at least 9 "
            "comma-separated fields: frame,id,x,y,w,h,mark,class,visibility)"
        )
    return fields


def parse_mot_gt(
    path: str, *, check_digits: tuple[int, int, int] | None, class_column: bool = False
) -> dict[int, FrameAnnotations]:
    """Parses a DanceTrack/SportsMOT/BFT/synthetic gt.txt.

    Args:
      check_digits: the required values of columns 7-9 (DanceTrack/SportsMOT: (1, 1, 1), BFT:
        (-1, -1, -1), as the official loaders assert); None skips the check.
      class_column: take the label from column 8 (1-based class, label = class - 1) and require
        column 7 == 1: the multi-class synthetic variant. Otherwise every label is 0.

    Returns frame number -> annotations, objects in file order.
    """
    if not os.path.isfile(path):
        raise DataFormatError(f"{path}: gt file not found")
    per_frame: dict[int, list] = {}
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = _mot_fields(path, lineno, line)
            try:
                t, i = int(fields[0]), int(fields[1])
                x, y, w, h = (float(v) for v in fields[2:6])
                a, b = int(float(fields[6])), int(float(fields[7]))
                c = float(fields[8])
            except ValueError as e:
                raise DataFormatError(
                    f"{path}:{lineno}: malformed gt line {line.rstrip()!r} ({e})"
                ) from e
            if not all(math.isfinite(v) for v in (x, y, w, h)):
                raise DataFormatError(f"{path}:{lineno}: non-finite box in {line.rstrip()!r}")
            if class_column:
                if a != 1 or b < 1:
                    raise DataFormatError(
                        f"{path}:{lineno}: expected mark 1 and a class >= 1 in {line.rstrip()!r}"
                    )
                label = b - 1
            else:
                if check_digits is not None and (a, b, int(c)) != check_digits:
                    raise DataFormatError(
                        f"{path}:{lineno}: check digits {(a, b, int(c))} != {check_digits} "
                        f"in {line.rstrip()!r}"
                    )
                label = 0
            per_frame.setdefault(t, []).append((i, x, y, w, h, label, 1.0))
    return {t: _stack(rows) for t, rows in sorted(per_frame.items())}


def parse_mot17_gt(path: str, id_state: list[int]) -> dict[int, FrameAnnotations]:
    """MOT17 gt.txt with the official generator's filtering (gen_mot17_gts.py).

    Lines with mark (column 7) == 0 or class (column 8) != 1 (pedestrian) are dropped; boxes are
    truncated to integers; track ids are renumbered by a running counter that increments whenever
    the id differs from the previous kept line's id (shared across sequences through id_state =
    [counter, last_id]). Visibility (column 9) is kept but, as in the official loader, not used
    to filter.
    """
    if not os.path.isfile(path):
        raise DataFormatError(f"{path}: gt file not found")
    per_frame: dict[int, list] = {}
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = _mot_fields(path, lineno, line)
            try:
                fid, tid, x, y, w, h, mark, label, vis = (float(v) for v in fields[:9])
            except ValueError as e:
                raise DataFormatError(
                    f"{path}:{lineno}: malformed gt line {line.rstrip()!r} ({e})"
                ) from e
            if mark == 0 or label != 1:
                continue
            if int(tid) != id_state[1]:
                id_state[0] += 1
                id_state[1] = int(tid)
            per_frame.setdefault(int(fid), []).append(
                (id_state[0], int(x), int(y), int(w), int(h), 0, vis)
            )
    return {t: _stack(rows) for t, rows in sorted(per_frame.items())}


def parse_crowdhuman_odgt(path: str) -> list[tuple[str, FrameAnnotations]]:
    """CrowdHuman .odgt -> [(image ID, annotations)], full-body boxes ('fbox').

    As gen_crowdhuman_gts.py: boxes with extra.ignore == 1 are dropped, coordinates truncated to
    integers, ids from one running counter over the whole file starting at 0.
    """
    if not os.path.isfile(path):
        raise DataFormatError(f"{path}: annotation file not found")
    out = []
    tid = 0
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                image_id = str(rec["ID"])
                rows = []
                for box in rec["gtboxes"]:
                    if box.get("extra", {}).get("ignore", 0) == 1:
                        continue
                    x, y, w, h = (int(v) for v in box["fbox"])
                    rows.append((tid, x, y, w, h, 0, 1.0))
                    tid += 1
            except (ValueError, KeyError, TypeError) as e:
                raise DataFormatError(f"{path}:{lineno}: malformed odgt record ({e!r})") from e
            out.append((image_id, _stack(rows)))
    return out


def parse_bdd100k_json(path: str) -> dict[str, FrameAnnotations]:
    """One BDD100K tracking video json -> frame file name -> annotations.

    As gen_bdd100k_gts.py with filter_crowd and filter_ignore: crowd boxes and categories outside
    BDD100K_CLASSES are dropped, box = (x1, y1, x2 - x1, y2 - y1) printed with 6 decimals, label =
    the class index (0..7). Frames whose labels list is empty are absent; frames whose objects were
    all filtered map to empty annotations (the official loader treats both as missing frames).
    """
    if not os.path.isfile(path):
        raise DataFormatError(f"{path}: label file not found")
    try:
        with open(path) as f:
            frames = json.load(f)
    except ValueError as e:
        raise DataFormatError(f"{path}: malformed json ({e})") from e
    out = {}
    for k, frame in enumerate(frames):
        try:
            name = frame["name"]
            labels = frame.get("labels") or []
            if not labels:
                continue
            rows = []
            for obj in labels:
                category = obj["category"]
                if obj.get("attributes", {}).get("crowd", False):
                    continue
                if category not in BDD100K_CLASSES:
                    continue
                b = obj["box2d"]
                w, h = b["x2"] - b["x1"], b["y2"] - b["y1"]
                cx, cy = (b["x1"] + b["x2"]) / 2, (b["y1"] + b["y2"]) / 2
                vals = (cx - 0.5 * w, cy - 0.5 * h, w, h)
                x, y, w, h = (float(f"{v:.6f}") for v in vals)
                rows.append((int(obj["id"]), x, y, w, h, BDD100K_CLASSES.index(category), 1.0))
        except (KeyError, TypeError, ValueError) as e:
            raise DataFormatError(f"{path}: malformed frame entry #{k} ({e!r})") from e
        out[name] = _stack(rows)
    return out


# ---------------------------------------------------------------------------------------------
# Sequence reader for inference and evaluation.

# Folder name of each dataset under root.
DATASET_DIRS = {
    "dancetrack": "DanceTrack",
    "sportsmot": "SportsMOT",
    "synthetic": "SyntheticMOT",
    "bft": "BFT",
    "mot17": "MOT17",
    "crowdhuman": "CrowdHuman",
    "bdd100k": "BDD100K",
}


def dataset_dir(dataset_name: str, root: str) -> str:
    """The folder that holds <split>_seqmap.txt and the split folders."""
    key = canonical_name(dataset_name)
    base = os.path.join(root, DATASET_DIRS[key])
    if key == "mot17" and os.path.isdir(os.path.join(base, "images")):
        return os.path.join(base, "images")
    return base


def canonical_name(dataset_name: str) -> str:
    key = dataset_name.lower().replace("-", "").replace("_", "")
    aliases = {"syntheticmot": "synthetic"}
    key = aliases.get(key, key)
    if key not in DATASET_DIRS:
        raise ValueError(
            f"unknown dataset name {dataset_name!r}; known: {', '.join(sorted(DATASET_DIRS))}"
        )
    return key


def list_sequences(dataset_name: str, root: str, split: str) -> list[str]:
    """Sequence names of a split, in seqmap order (BDD100K: sorted label files)."""
    key = canonical_name(dataset_name)
    base = dataset_dir(key, root)
    if key == "crowdhuman":
        return [i for i, _ in parse_crowdhuman_odgt(os.path.join(base, f"annotation_{split}.odgt"))]
    if key == "bdd100k":
        label_dir = os.path.join(base, "labels", "box_track_20", split)
        if not os.path.isdir(label_dir):
            raise DataFormatError(f"{label_dir}: label folder not found")
        return sorted(f[:-5] for f in os.listdir(label_dir) if f.endswith(".json"))
    return read_seqmap(os.path.join(base, f"{split}_seqmap.txt"))


def read_sequence(
    dataset_name: str, root: str, split: str, name: str, *, with_gt: bool = True
) -> Sequence:
    """Frames, seqinfo and (when present) ground truth of one sequence.

    Frames without a seqinfo.ini (BFT, BDD100K) take their size from the first image and a frame
    rate of 0 (unknown). gt is None when the sequence has no gt file (test splits).
    """
    key = canonical_name(dataset_name)
    base = dataset_dir(key, root)
    gt = None
    if key in ("dancetrack", "sportsmot", "synthetic", "mot17"):
        seq_dir = os.path.join(base, split, name)
        if not os.path.isdir(seq_dir):
            raise DataFormatError(f"{seq_dir}: sequence folder not found")
        frames = list_frames(os.path.join(seq_dir, "img1"))
        info = read_seqinfo(os.path.join(seq_dir, "seqinfo.ini"))
        gt_path = os.path.join(seq_dir, "gt", "gt.txt")
        if with_gt and os.path.isfile(gt_path):
            if key == "mot17":
                gt = parse_mot17_gt(gt_path, [0, -1])
            else:
                gt = parse_mot_gt(
                    gt_path,
                    check_digits=None if key == "synthetic" else (1, 1, 1),
                    class_column=key == "synthetic",
                )
    elif key == "bft":
        seq_dir = os.path.join(base, split, name)
        frames = list_frames(seq_dir)
        gt_path = os.path.join(base, "annotations_mot", split, f"{name}.txt")
        if with_gt and os.path.isfile(gt_path):
            gt = parse_mot_gt(gt_path, check_digits=(-1, -1, -1))
        info = None
    elif key == "bdd100k":
        seq_dir = os.path.join(base, "images", "track", split, name)
        frames = list_frames(seq_dir)
        label_path = os.path.join(base, "labels", "box_track_20", split, f"{name}.json")
        if with_gt and os.path.isfile(label_path):
            by_name = parse_bdd100k_json(label_path)
            gt = {}
            for fname, ann in by_name.items():
                t = int(os.path.splitext(fname)[0].rsplit("-", 1)[-1])
                if len(ann.ids):
                    gt[t] = ann
        info = None
    else:  # crowdhuman: one image is a one-frame sequence
        path = crowdhuman_image_path(base, split, name)
        frames = {1: path}
        if with_gt:
            odgt = dict(parse_crowdhuman_odgt(os.path.join(base, f"annotation_{split}.odgt")))
            gt = {1: odgt[name]}
        info = None
    if not frames:
        raise DataFormatError(f"{seq_dir}: no .jpg/.png frames")
    numbers = tuple(sorted(frames))
    if info is None:
        h, w = image_size(frames[numbers[0]])
        ext = os.path.splitext(frames[numbers[0]])[1]
        info = SeqInfo(
            name=name, frame_rate=0.0, width=w, height=h, length=len(numbers), im_ext=ext
        )
    return Sequence(
        name=name,
        frames=numbers,
        frame_paths=tuple(frames[t] for t in numbers),
        info=info,
        gt=gt,
    )


def crowdhuman_image_path(base: str, split: str, image_id: str) -> str:
    for path in (
        os.path.join(base, "images", split, f"{image_id}.jpg"),
        os.path.join(base, "Images", f"{image_id}.jpg"),
    ):
        if os.path.isfile(path):
            return path
    raise DataFormatError(
        f"{os.path.join(base, 'images', split, image_id + '.jpg')}: image not found"
    )
