"""MOT result lines as the official Submitter writes them; the one MOT line parser."""

from __future__ import annotations

import numpy as np
import pytest

from sambamotr_jax.formats import mot_text
from sambamotr_jax.formats.errors import InputError


def test_lines_reproduce_official_tracker_txt(def_detr_fixture):
    lines = (def_detr_fixture / "tracker.txt").read_text().splitlines(keepends=True)
    assert len(lines) == 16
    for line in lines:
        frame, track_id, x1, y1, w, h = line.split(",")[:6]
        x1, y1, w, h = (float(v) for v in (x1, y1, w, h))
        # The Submitter's corners are float32; w = x2 - x1 is taken in double precision.
        x2, y2 = np.float32(x1 + w), np.float32(y1 + h)
        assert (float(x2), float(y2)) == (x1 + w, y1 + h)
        corners = (np.float32(x1), np.float32(y1), x2, y2)
        assert (
            mot_text.format_mot_line(
                int(frame), int(track_id), *mot_text.mot_box_from_xyxy(*corners)
            )
            == line
        )
        assert mot_text.format_mot_line(np.int64(frame), np.int32(track_id), x1, y1, w, h) == line


def test_float32_printed_through_python_float():
    line = mot_text.format_mot_line(3, 7, np.float32(0.1), np.float32(-2.5), np.float32(10), 4.0)
    # float32(0.1) is 0.10000000149011612 exactly; its own short repr would be "0.1".
    assert line == "3,7,0.10000000149011612,-2.5,10.0,4.0,1,-1,-1,-1\n"
    # Widths are double-precision differences of float32 corners, not float32 values.
    assert mot_text.mot_box_from_xyxy(np.float32(0.1), 0, np.float32(0.3), 0)[2] == (
        float(np.float32(0.3)) - float(np.float32(0.1))
    )
    with pytest.raises(ValueError, match="frame must be an integer"):
        mot_text.format_mot_line(1.5, 7, 0, 0, 1, 1)


def test_read_mot_file(tmp_path):
    path = tmp_path / "seq.txt"
    path.write_text("1,3,10.5,20,30,40,1,-1,-1,-1\n\n2.0, 0, -1.25,2,3,4,1,-1,-1,-1,\n")
    table = mot_text.read_mot_file(path)
    assert table.frames.tolist() == [1, 2] and table.ids.tolist() == [3, 0]
    assert table.line_numbers.tolist() == [1, 3]
    assert table.values.shape == (2, 10) and table.values[1, 2] == -1.25
    assert mot_text.format_table_rows(table.frames, table)[1] == (
        "2,0,-1.25,2.0,3.0,4.0,1.0,-1.0,-1.0,-1.0\n"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert len(mot_text.read_mot_file(empty)) == 0


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("1,2,3,4,5\n", "5 columns, at least 6 needed"),
        ("1,2,3,4,5,x\n", "a value that is not a number"),
        ("0,2,3,4,5,6\n", "frame '0' is not an integer >= 1"),
        ("1.5,2,3,4,5,6\n", "frame '1.5' is not an integer >= 1"),
        ("1,-1,3,4,5,6\n", "id '-1' is not an integer >= 0"),
        ("1,2,3,4,5,nan\n", "a value that is not finite"),
        ("1,2,3,4,5,6,7\n", "7 columns where earlier lines have 6"),
    ],
)
def test_read_mot_file_errors_name_file_and_line(tmp_path, line, problem):
    path = tmp_path / "seq.txt"
    path.write_text("1,1,0,0,5,5\n" + line)
    with pytest.raises(InputError, match=f"seq.txt:2: {problem}") as err:
        mot_text.read_mot_file(path)
    assert str(path) in str(err.value) and "Fix or regenerate this file" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.txt: file not found"):
        mot_text.read_mot_file(tmp_path / "nope.txt")


def test_an_id_twice_in_one_frame_names_both_lines(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("1,1,0,0,5,5\n1,2,0,0,5,5\n2,1,0,0,5,5\n2,1,3,3,5,5\n")
    table = mot_text.read_mot_file(path)
    with pytest.raises(
        InputError, match=r"r\.txt:4: id 1 appears twice in frame 2 \(also line 3\)"
    ):
        mot_text.check_unique_ids(path, mot_text.table_rows(table), "result")
    mot_text.check_unique_ids(path, mot_text.table_rows(table.select(table.frames == 1)), "result")
