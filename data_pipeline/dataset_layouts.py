"""Reading the official dataset layouts from disk: seqmaps, seqinfo.ini, gt files, frames.

Where each dataset keeps its files, and the official training semantics of its ground truth;
the files themselves are read by the one reader of each format in `sambamotr_jax.formats`
(seqmaps, seqinfo.ini and frames: `sequence_folder`; gt lines: `mot_text`; BDD100K json:
`bdd100k_json`; CrowdHuman: `crowdhuman_odgt`; images: `frame_images`). The record builders
(`builders.py`) and the inference/eval sequence reader both use this module. Every malformed
input raises `sambamotr_jax.formats.errors.InputError` naming the file (and the line).

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

gt boxes are kept as the files give them: (x, y, w, h) of the top-left corner in pixels, with
the checks of docs/data.md ("Checks of the ground truth"): a box of negative width or height is
an error (the official criterion's GIoU asserts on it mid-training), a box of zero width or
height is left out of the training targets with one warning per file; a frame past `seqLength`
or an id twice in one frame of a gt file is an error naming file:line.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from sambamotr_jax.formats import bdd100k_json, crowdhuman_odgt, frame_images, mot_text
from sambamotr_jax.formats import sequence_folder as seq_files
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.formats.sequence_folder import SeqInfo


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
# Frames and seqinfo.


def frame_files(image_dir: str) -> dict[int, str]:
    """Frame number -> image path of a folder's frames (`sequence_folder.numbered_frames`)."""
    return {t: str(p) for t, p in seq_files.numbered_frames(image_dir).items()}


def info_from_frames(name: str, frames: dict[int, str], info: SeqInfo | None = None) -> SeqInfo:
    """`info` (from seqinfo.ini) with the size it does not give taken from the first frame; a
    new SeqInfo (length = number of frames, frame rate unknown) when there is no seqinfo.ini."""
    first = frames[min(frames)]
    if info is None:
        h, w = frame_images.image_size(first)
        return SeqInfo(
            name=name,
            seq_length=len(frames),
            im_dir="",
            im_width=w,
            im_height=h,
            im_ext=os.path.splitext(first)[1],
        )
    if info.im_width is None or info.im_height is None:
        h, w = frame_images.image_size(first)
        info = dataclasses.replace(info, im_width=w, im_height=h)
    return info


# ---------------------------------------------------------------------------------------------
# gt files, as the official loaders read them (built on the one MOT line parser).


class BoxSizeRule:
    """The rule for gt boxes without area, applied to the boxes of one file.

    Negative width or height: InputError naming the box (the official loaders read such a box,
    and the official criterion's `generalized_box_iou` asserts on it when it reaches the loss).
    Zero width or height: the box is left out of the training targets (the official crop keeps
    only boxes with area; its plain resize would keep it), counted, and `warn()` logs one line
    per file with the count and the first one.
    """

    def __init__(self, path: str):
        self.path = path
        self.dropped = 0
        self.first: str | None = None

    def __call__(self, where: str, w: float, h: float) -> bool:
        """True to keep the box at `where` (file:line and what it is) of size w x h."""
        if w < 0 or h < 0:
            raise InputError(
                f"{where}: box of negative size (width {w:g}, height {h:g}); a gt box needs "
                "width and height >= 0 (the official training asserts on it). Fix this line."
            )
        if w == 0 or h == 0:
            self.dropped += 1
            self.first = self.first or where
            return False
        return True

    def warn(self) -> None:
        if self.dropped:
            logging.warning(
                "%s: %d gt box(es) of zero width or height left out of the training targets "
                "(first: %s)",
                self.path,
                self.dropped,
                self.first,
            )


def parse_mot_gt(
    path: str,
    *,
    check_digits: tuple[int, int, int] | None,
    class_column: bool = False,
    seq_length: int | None = None,
) -> dict[int, FrameAnnotations]:
    """Parses a DanceTrack/SportsMOT/BFT/synthetic gt.txt (`frame,id,x,y,w,h,a,b,c`).

    Args:
      check_digits: the required values of columns 7-9 (DanceTrack/SportsMOT: (1, 1, 1), BFT:
        (-1, -1, -1), as the official loaders assert); None skips the check.
      class_column: take the label from column 8 (1-based class, label = class - 1) and require
        column 7 == 1: the multi-class synthetic variant. Otherwise every label is 0.
      seq_length: the sequence's `seqLength`; a line of a later frame is an error (None: no
        check).

    Returns frame number -> annotations, objects in file order. Boxes follow `BoxSizeRule`; a
    frame whose boxes were all left out maps to empty annotations.

    Raises:
      InputError: a missing file, a malformed line, a frame past `seq_length`, an id twice in
        one frame or a box of negative size (names file:line).
    """
    lines = list(mot_text.read_mot_lines(path, min_columns=9, columns=mot_text.GT_COLUMNS))
    _check_frames_and_ids(path, lines, seq_length)
    sizes = BoxSizeRule(path)
    per_frame: dict[int, list] = {}
    for line in lines:
        t, i, x, y, w, h, a, b, c = line.values[:9]
        a, b = int(a), int(b)
        if class_column:
            if a != 1 or b < 1:
                raise line.error(f"expected mark 1 and a class >= 1, got {a},{b}")
            label = b - 1
        else:
            if check_digits is not None and (a, b, int(c)) != check_digits:
                raise line.error(f"check digits {(a, b, int(c))} != {check_digits}")
            label = 0
        rows = per_frame.setdefault(int(t), [])
        if sizes(_where(line), w, h):
            rows.append((int(i), x, y, w, h, label, 1.0))
    sizes.warn()
    return {t: _stack(rows) for t, rows in sorted(per_frame.items())}


def _where(line: mot_text.MotLine) -> str:
    return f"{line.path}:{line.number}: line {line.text!r}"


def _check_frames_and_ids(path: str, lines: list[mot_text.MotLine], seq_length: int | None):
    """A frame past `seqLength`, or an id twice in one frame (which TrackEval rejects and which
    makes id-matched supervision ambiguous), is an InputError naming file:line."""
    if seq_length is not None:
        for line in lines:
            if line.values[0] > seq_length:
                raise InputError(
                    f"{line.path}:{line.number}: frame {int(line.values[0])} is past the end of "
                    f"the sequence (seqLength={seq_length} in its seqinfo.ini); this gt line "
                    "does not belong to this sequence, or seqinfo.ini is wrong"
                )
    mot_text.check_unique_ids(
        path, ((int(x.values[0]), int(x.values[1]), x.number) for x in lines), "gt"
    )


def parse_mot17_gt(
    path: str, id_state: list[int], *, seq_length: int | None = None
) -> dict[int, FrameAnnotations]:
    """MOT17 gt.txt with the official generator's filtering (gen_mot17_gts.py).

    Lines with mark (column 7) == 0 or class (column 8) != 1 (pedestrian) are dropped; boxes are
    truncated to integers; track ids are renumbered by a running counter that increments whenever
    the id differs from the previous kept line's id (shared across sequences through id_state =
    [counter, last_id]). Visibility (column 9) is kept but, as in the official loader, not used
    to filter. Every line is checked against `seq_length` and for repeated ids; kept boxes
    follow `BoxSizeRule` after truncation.

    Raises:
      InputError: a missing file, a malformed line, a frame past `seq_length`, an id twice in
        one frame or a box of negative size (names file:line).
    """
    lines = list(mot_text.read_mot_lines(path, min_columns=9, columns=mot_text.GT_COLUMNS))
    _check_frames_and_ids(path, lines, seq_length)
    sizes = BoxSizeRule(path)
    per_frame: dict[int, list] = {}
    for line in lines:
        fid, tid, x, y, w, h, mark, label, vis = line.values[:9]
        if mark == 0 or label != 1:
            continue
        if int(tid) != id_state[1]:
            id_state[0] += 1
            id_state[1] = int(tid)
        rows = per_frame.setdefault(int(fid), [])
        if sizes(_where(line), int(w), int(h)):
            rows.append((id_state[0], int(x), int(y), int(w), int(h), 0, vis))
    sizes.warn()
    return {t: _stack(rows) for t, rows in sorted(per_frame.items())}


def parse_crowdhuman_odgt(path: str) -> list[tuple[str, FrameAnnotations]]:
    """CrowdHuman .odgt -> [(image ID, annotations)], full-body boxes as gen_crowdhuman_gts.py
    (`crowdhuman_odgt.read_crowdhuman_odgt`), boxes following `BoxSizeRule`."""
    sizes = BoxSizeRule(path)
    out = [
        (image_id, _stack([(i, x, y, w, h, 0, 1.0) for i, x, y, w, h in boxes]))
        for image_id, boxes in crowdhuman_odgt.read_crowdhuman_odgt(path, sizes)
    ]
    sizes.warn()
    return out


def parse_bdd100k_json(path: str) -> dict[str, FrameAnnotations]:
    """One BDD100K tracking video json -> frame file name -> annotations, as gen_bdd100k_gts.py
    (`bdd100k_json.training_gt`: crowd boxes and distractors dropped, labels 0..7; boxes
    following `BoxSizeRule`). Frames whose
    labels list is empty are absent; frames whose objects were all filtered map to empty
    annotations (the official loader treats both as missing frames)."""
    video = bdd100k_json.read_bdd100k_json(path, is_gt=True)
    sizes = BoxSizeRule(path)
    out = {
        name: _stack([(i, x, y, w, h, label, 1.0) for i, x, y, w, h, label in rows])
        for name, rows in bdd100k_json.training_gt(video, sizes).items()
    }
    sizes.warn()
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
        raise InputError(
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
            raise InputError(f"{label_dir}: label folder not found")
        return sorted(f[:-5] for f in os.listdir(label_dir) if f.endswith(".json"))
    return seq_files.read_seqmap(os.path.join(base, f"{split}_seqmap.txt"))


def read_sequence(
    dataset_name: str, root: str, split: str, name: str, *, with_gt: bool = True
) -> Sequence:
    """Frames, seqinfo and (when present) ground truth of one sequence.

    Frames without a seqinfo.ini (BFT, BDD100K) take their size from the first image and no frame
    rate (None). gt is None when the sequence has no gt file (test splits).
    """
    key = canonical_name(dataset_name)
    base = dataset_dir(key, root)
    gt = None
    info = None
    if key in ("dancetrack", "sportsmot", "synthetic", "mot17"):
        seq_dir = os.path.join(base, split, name)
        if not os.path.isdir(seq_dir):
            raise InputError(f"{seq_dir}: sequence folder not found")
        info = seq_files.read_seqinfo(seq_dir)
        frames = frame_files(os.path.join(seq_dir, info.im_dir))
        gt_path = os.path.join(seq_dir, "gt", "gt.txt")
        if with_gt and os.path.isfile(gt_path):
            if key == "mot17":
                gt = parse_mot17_gt(gt_path, [0, -1], seq_length=info.seq_length)
            else:
                gt = parse_mot_gt(
                    gt_path,
                    check_digits=None if key == "synthetic" else (1, 1, 1),
                    class_column=key == "synthetic",
                    seq_length=info.seq_length,
                )
    elif key == "bft":
        seq_dir = os.path.join(base, split, name)
        frames = frame_files(seq_dir)
        gt_path = os.path.join(base, "annotations_mot", split, f"{name}.txt")
        if with_gt and os.path.isfile(gt_path):
            gt = parse_mot_gt(gt_path, check_digits=(-1, -1, -1))
    elif key == "bdd100k":
        seq_dir = os.path.join(base, "images", "track", split, name)
        frames = frame_files(seq_dir)
        label_path = os.path.join(base, "labels", "box_track_20", split, f"{name}.json")
        if with_gt and os.path.isfile(label_path):
            by_name = parse_bdd100k_json(label_path)
            gt = {}
            for fname, ann in by_name.items():
                t = seq_files.frame_number(fname)
                if len(ann.ids):
                    gt[t] = ann
    else:  # crowdhuman: one image is a one-frame sequence
        path = crowdhuman_image_path(base, split, name)
        frames = {1: path}
        if with_gt:
            odgt = dict(parse_crowdhuman_odgt(os.path.join(base, f"annotation_{split}.odgt")))
            gt = {1: odgt[name]}
    numbers = tuple(sorted(frames))
    return Sequence(
        name=name,
        frames=numbers,
        frame_paths=tuple(frames[t] for t in numbers),
        info=info_from_frames(name, frames, info),
        gt=gt,
    )


def crowdhuman_image_path(base: str, split: str, image_id: str) -> str:
    for path in (
        os.path.join(base, "images", split, f"{image_id}.jpg"),
        os.path.join(base, "Images", f"{image_id}.jpg"),
    ):
        if os.path.isfile(path):
            return path
    raise InputError(f"{os.path.join(base, 'images', split, image_id + '.jpg')}: image not found")
