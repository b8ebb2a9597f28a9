"""MOT Challenge text files: result lines and gt lines, the one parser of both.

A result line is what the official `Submitter.write_results` writes for DanceTrack, SportsMOT
and MOT17:

    frame,id,x1,y1,w,h,1,-1,-1,-1

`frame` is 1-based in the original numbering (with an evaluation interval k the Submitter writes
frames 1, 1+k, 1+2k, ...), `id` an integer, and the four box numbers are Python floats printed
with `repr`. The official boxes are float32 corners (x1, y1, x2, y2) in original-image pixels,
turned into Python floats by `.tolist()`; `w = x2 - x1` and `h = y2 - y1` are then computed in
double precision, so `w` and `h` are in general *not* float32 values. `mot_box_from_xyxy` does
that step exactly; `format_mot_line` prints the line.

A gt line has the same first six columns, then `mark,class,visibility` (DanceTrack: `1,1,1`,
BFT: `-1,-1,-1`, MOT17: consider flag, class, visibility). `read_mot_lines` is the one line
parser: evaluation (`read_mot_file`) and the data pipeline's gt readers are built on it, so a
malformed line reads the same everywhere:

    gt.txt:4: a value that is not a number in line '3,2,1,1,x,4,1,1,1'; expected ...

Sequence folders (seqinfo.ini, seqmaps, frames) are `sequence_folder.py`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Iterable, Iterator

import numpy as np

from sambamotr_jax.formats.errors import InputError, at

# The constant tail the official Submitter writes for DanceTrack / SportsMOT / MOT17.
_SUBMITTER_TAIL = "1,-1,-1,-1"


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


RESULT_COLUMNS = "frame,id,x,y,w,h[,...]"
GT_COLUMNS = "frame,id,x,y,w,h,mark,class,visibility"


@dataclasses.dataclass(frozen=True)
class MotLine:
    """One non-blank line of a MOT file.

    Attributes:
      path: the file.
      number: 1-based line number.
      text: the line without its newline and surrounding blanks.
      fields: the comma-separated fields, stripped (a trailing empty field, as some trackers
        write with a trailing comma, is dropped).
      values: the fields as finite floats; values[0] (frame) is an integer >= 1 and values[1]
        (id) an integer >= 0.
      columns: what the line should hold, for error messages (`RESULT_COLUMNS`, `GT_COLUMNS`).
    """

    path: pathlib.Path
    number: int
    text: str
    fields: tuple[str, ...]
    values: tuple[float, ...]
    columns: str = RESULT_COLUMNS

    def error(self, problem: str) -> InputError:
        """An InputError naming file:line, the problem, the line and what a line looks like."""
        return _line_error(self.path, self.number, self.text, problem, self.columns)


def _line_error(path, number: int, text: str, problem: str, columns: str) -> InputError:
    return InputError(
        f"{at(path, number)}: {problem} in line {text!r}; expected comma-separated "
        f"'{columns}' with an integer frame >= 1 and id. Fix or regenerate this file."
    )


def read_mot_lines(
    path: str | os.PathLike, *, min_columns: int = 6, columns: str = RESULT_COLUMNS
) -> Iterator[MotLine]:
    """The non-blank lines of a MOT gt or result file, parsed and checked, in file order.

    Every line must have at least `min_columns` numeric, finite fields, all lines the same
    number of fields, an integer frame >= 1 and an integer id >= 0.

    Raises:
      InputError: the file is missing, or a line is malformed (the message names file:line,
        shows the line and says what a valid line looks like).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    num_columns = None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            fields = [p.strip() for p in text.split(",")]
            if fields[-1] == "":  # A trailing comma, as some trackers write.
                fields = fields[:-1]

            def bad(problem: str, number=number, text=text) -> InputError:
                return _line_error(path, number, text, problem, columns)

            if len(fields) < min_columns:
                raise bad(f"{len(fields)} columns, at least {min_columns} needed")
            if num_columns is None:
                num_columns = len(fields)
            elif len(fields) != num_columns:
                raise bad(f"{len(fields)} columns where earlier lines have {num_columns}")
            try:
                values = tuple(float(v) for v in fields)
            except ValueError:
                raise bad("a value that is not a number") from None
            if not all(math.isfinite(v) for v in values):
                raise bad("a value that is not finite")
            frame, track_id = values[0], values[1]
            if not frame.is_integer() or frame < 1:
                raise bad(f"frame {fields[0]!r} is not an integer >= 1")
            if not track_id.is_integer() or track_id < 0:
                raise bad(f"id {fields[1]!r} is not an integer >= 0")
            yield MotLine(path, number, text, tuple(fields), values, columns)


def read_mot_file(path: str | os.PathLike, *, min_columns: int = 6) -> MotTable:
    """Parses a MOT gt or result file into a table (`read_mot_lines`); blank lines are skipped.

    Raises:
      InputError: the file is missing, or a line is malformed (the message names file:line,
        shows the line and says what a valid line looks like).
    """
    path = pathlib.Path(path)
    lines = list(read_mot_lines(path, min_columns=min_columns))
    num_columns = len(lines[0].values) if lines else min_columns
    values = np.asarray([line.values for line in lines], np.float64).reshape(
        len(lines), num_columns
    )
    return MotTable(
        frames=values[:, 0].astype(np.int64),
        ids=values[:, 1].astype(np.int64),
        values=values,
        line_numbers=np.asarray([line.number for line in lines], np.int64),
        path=path,
    )


def check_unique_ids(path, rows: Iterable[tuple[int, int, int]], what: str) -> None:
    """Raises InputError when an id appears twice in one frame (TrackEval rejects such a file).

    Args:
      path: the file, for the message.
      rows: (frame, id, line number) of every line.
      what: 'gt' or 'result', for the message.
    """
    first_line: dict[tuple[int, int], int] = {}
    for frame, track_id, number in rows:
        earlier = first_line.setdefault((frame, track_id), number)
        if earlier != number:
            raise InputError(
                f"{at(path, number)}: id {track_id} appears twice in frame {frame} (also line "
                f"{earlier}); a {what} file has at most one box per id and frame"
            )


def table_rows(table: MotTable) -> Iterator[tuple[int, int, int]]:
    """(frame, id, line number) of each row of `table`, for `check_unique_ids`."""
    return zip(table.frames.tolist(), table.ids.tolist(), table.line_numbers.tolist(), strict=True)


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
