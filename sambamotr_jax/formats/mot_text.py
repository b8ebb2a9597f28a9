"""MOT Challenge text files and sequence folders: the formats the official code reads and writes.

A result line is what the official `Submitter.write_results` writes for DanceTrack, SportsMOT
and MOT17:

    frame,id,x1,y1,w,h,1,-1,-1,-1

`frame` is 1-based in the original numbering (with an evaluation interval k the Submitter writes
frames 1, 1+k, 1+2k, ...), `id` an integer, and the four box numbers are Python floats printed
with `repr`. The official boxes are float32 corners (x1, y1, x2, y2) in original-image pixels,
turned into Python floats by `.tolist()`; `w = x2 - x1` and `h = y2 - y1` are then computed in
double precision, so `w` and `h` are in general *not* float32 values. `mot_box_from_xyxy` does
that step exactly; `format_mot_line` prints the line.

A sequence folder (DanceTrack / MOT17 layout) holds `seqinfo.ini`, `img1/` with the frames
(`.jpg` or `.png`, in name order as the official `SeqDataset` sorts them) and, for annotated
splits, `gt/gt.txt`.

Every problem with an input file raises `InputError` with the path (and line) and what to do.
"""

from __future__ import annotations

import configparser
import dataclasses
import math
import os
import pathlib
import tempfile
from collections.abc import Iterable, Sequence

import numpy as np

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")

# The constant tail the official Submitter writes for DanceTrack / SportsMOT / MOT17.
_SUBMITTER_TAIL = "1,-1,-1,-1"


class InputError(ValueError):
    """A missing or malformed input (file, folder, line); the message says which and what to do."""


# --------------------------------------------------------------------------------------------
# Result lines.


def mot_box_from_xyxy(x1, y1, x2, y2) -> tuple[float, float, float, float]:
    """(x1, y1, w, h) as the official Submitter computes them from float32 corners.

    Each corner becomes the Python float of its (float32) value; w and h are differences taken
    in double precision, exactly `x1, y1, x2, y2 = boxes[i].tolist(); w, h = x2 - x1, y2 - y1`.
    """
    x1, y1, x2, y2 = (float(v) for v in (x1, y1, x2, y2))
    return x1, y1, x2 - x1, y2 - y1


def format_mot_line(frame: int, track_id: int, x1, y1, w, h) -> str:
    """One result line as the official Submitter writes it (with the trailing newline).

    Args:
      frame: 1-based frame number in the original sequence numbering.
      track_id: the track's integer id.
      x1, y1, w, h: box in original-image pixels; numpy float32 values are printed through
        Python floats (`float(np.float32(v))` is exact), never with float32's short repr.
    """
    frame, track_id = _as_int(frame, "frame"), _as_int(track_id, "track_id")
    x1, y1, w, h = (float(v) for v in (x1, y1, w, h))
    return f"{frame},{track_id},{x1},{y1},{w},{h},{_SUBMITTER_TAIL}\n"


def _as_int(value, name: str) -> int:
    as_int = int(value)
    if as_int != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return as_int


@dataclasses.dataclass(frozen=True)
class MotTable:
    """The rows of a MOT file, in file order.

    Attributes:
      frames: (N,) int64, 1-based frame numbers.
      ids: (N,) int64 object ids.
      values: (N, C) float64, all columns of each row (C >= 6, the same for every row; frame
        and id are columns 0 and 1).
      line_numbers: (N,) 1-based line numbers in the file, for error messages.
      path: the file the rows come from.
    """

    frames: np.ndarray
    ids: np.ndarray
    values: np.ndarray
    line_numbers: np.ndarray
    path: pathlib.Path

    def __len__(self) -> int:
        return len(self.frames)

    def select(self, keep: np.ndarray) -> MotTable:
        """The rows where the boolean mask `keep` (N,) is true."""
        return MotTable(
            self.frames[keep], self.ids[keep], self.values[keep], self.line_numbers[keep], self.path
        )


_EXPECTED = "expected comma-separated 'frame,id,x,y,w,h[,...]' with an integer frame >= 1 and id"


def read_mot_file(path: str | os.PathLike, *, min_columns: int = 6) -> MotTable:
    """Parses a MOT gt or result file; blank lines are skipped.

    Raises:
      InputError: the file is missing, or a line is malformed (the message names file:line,
        shows the line and says what a valid line looks like).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    rows, line_numbers = [], []
    num_columns = None
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            fields = [p.strip() for p in text.split(",")]
            if fields[-1] == "":  # A trailing comma, as some trackers write.
                fields = fields[:-1]

            def bad(problem: str, line_number=line_number, text=text) -> InputError:
                return InputError(
                    f"{path}:{line_number}: {problem} in line {text!r}; {_EXPECTED}. "
                    "Fix or regenerate this file."
                )

            if len(fields) < min_columns:
                raise bad(f"{len(fields)} columns, at least {min_columns} needed")
            if num_columns is None:
                num_columns = len(fields)
            elif len(fields) != num_columns:
                raise bad(f"{len(fields)} columns where earlier lines have {num_columns}")
            try:
                values = [float(v) for v in fields]
            except ValueError:
                raise bad("a value that is not a number") from None
            if not all(math.isfinite(v) for v in values):
                raise bad("a value that is not finite")
            frame, track_id = values[0], values[1]
            if not frame.is_integer() or frame < 1:
                raise bad(f"frame {fields[0]!r} is not an integer >= 1")
            if not track_id.is_integer() or track_id < 0:
                raise bad(f"id {fields[1]!r} is not an integer >= 0")
            rows.append(values)
            line_numbers.append(line_number)
    values = np.asarray(rows, np.float64).reshape(len(rows), num_columns or min_columns)
    return MotTable(
        frames=values[:, 0].astype(np.int64),
        ids=values[:, 1].astype(np.int64),
        values=values,
        line_numbers=np.asarray(line_numbers, np.int64),
        path=path,
    )


def format_table_rows(frames: np.ndarray, table: MotTable) -> list[str]:
    """Lines for `table`'s rows with frame numbers `frames` (N,): ints for frame and id, every
    other column as the Python float repr, so a reader gets back exactly the parsed values."""
    lines = []
    for frame, track_id, row in zip(
        frames.tolist(), table.ids.tolist(), table.values.tolist(), strict=True
    ):
        rest = ",".join(repr(v) for v in row[2:])
        lines.append(f"{frame},{track_id},{rest}\n")
    return lines


# --------------------------------------------------------------------------------------------
# Writing.


def write_text_atomic(path: str | os.PathLike, lines: Iterable[str]) -> None:
    """Writes `lines` to `path` through a temporary file in the same folder and a rename, so
    `path` is either absent, the old file, or the complete new file, never a partial one."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Sequence folders.


@dataclasses.dataclass(frozen=True)
class SeqInfo:
    """The `[Sequence]` section of a `seqinfo.ini`."""

    name: str
    seq_length: int
    im_dir: str = "img1"
    frame_rate: float | None = None
    im_width: int | None = None
    im_height: int | None = None
    im_ext: str | None = None


def read_seqinfo(seq_dir: str | os.PathLike) -> SeqInfo:
    """Reads `<seq_dir>/seqinfo.ini`.

    Raises:
      InputError: the file is missing, has no `[Sequence]` section or no positive `seqLength`.
    """
    seq_dir = pathlib.Path(seq_dir)
    ini = seq_dir / "seqinfo.ini"
    if not ini.is_file():
        raise InputError(
            f"{ini}: file not found; every sequence folder needs a seqinfo.ini with a [Sequence] "
            "section giving seqLength (as in DanceTrack / MOT17)"
        )
    parser = configparser.ConfigParser()
    try:
        parser.read(ini, encoding="utf-8")
        section = parser["Sequence"]
        seq_length = int(section["seqLength"])
    except (KeyError, ValueError, configparser.Error) as err:
        raise InputError(
            f"{ini}: no [Sequence] seqLength integer ({err!r}); fix the file "
            "(e.g. '[Sequence]\\nname=dancetrack0004\\nseqLength=1200')"
        ) from None
    if seq_length < 1:
        raise InputError(
            f"{ini}: seqLength={seq_length}; the sequence is empty, remove it from the split"
        )

    def optional(key, kind):
        return kind(section[key]) if key in section else None

    return SeqInfo(
        name=section.get("name", seq_dir.name),
        seq_length=seq_length,
        im_dir=section.get("imDir", "img1"),
        frame_rate=optional("frameRate", float),
        im_width=optional("imWidth", int),
        im_height=optional("imHeight", int),
        im_ext=section.get("imExt"),
    )


def list_frames(image_dir: str | os.PathLike) -> list[pathlib.Path]:
    """The `.jpg` / `.jpeg` / `.png` files of a folder, sorted by name (the official order).

    Raises:
      InputError: the folder is missing or holds no frames.
    """
    image_dir = pathlib.Path(image_dir)
    if not image_dir.is_dir():
        raise InputError(f"{image_dir}: frame folder not found")
    frames = sorted(
        (p for p in image_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()),
        key=lambda p: p.name,
    )
    if not frames:
        raise InputError(
            f"{image_dir}: empty sequence, no .jpg or .png frames; add the frames or remove "
            "the sequence from the split / seqmap"
        )
    return frames


def sequence_frames(seq_dir: str | os.PathLike) -> list[pathlib.Path]:
    """Frames of a sequence folder: `<seq_dir>/<imDir or img1>/`, or `<seq_dir>` itself when it
    has no such subfolder (BFT / BDD100K layout)."""
    seq_dir = pathlib.Path(seq_dir)
    im_dir = "img1"
    if (seq_dir / "seqinfo.ini").is_file():
        im_dir = read_seqinfo(seq_dir).im_dir
    image_dir = seq_dir / im_dir
    return list_frames(image_dir if image_dir.is_dir() else seq_dir)


def read_seqmap(path: str | os.PathLike) -> list[str]:
    """Sequence names of a TrackEval seqmap file (first line is the header `name`).

    Raises:
      InputError: the file is missing or lists no sequence.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: seqmap file not found; give an existing seqmap (a 'name' header line, then "
            "one sequence name per line) or leave it out to use every sequence folder"
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    names = [line.split(",")[0].strip() for line in lines[1:]]
    names = [n for n in names if n]
    if not names:
        raise InputError(f"{path}: the seqmap lists no sequence after its header line")
    return names


def sequence_dirs(
    root: str | os.PathLike, names: Sequence[str] | None = None
) -> list[pathlib.Path]:
    """Sequence folders under `root`: those named (checked to exist), else every subfolder, sorted.

    Raises:
      InputError: `root` or a named sequence is missing, or `root` has no subfolder.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: folder not found")
    if names is None:
        dirs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
        if not dirs:
            raise InputError(f"{root}: no sequence folders")
        return dirs
    missing = [n for n in names if not (root / n).is_dir()]
    if missing:
        raise InputError(f"{root}: sequence folders named by the seqmap are missing: {missing}")
    return [root / n for n in names]
