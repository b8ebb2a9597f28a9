"""MOT result lines as the official Submitter writes them; parsing; atomic writes; sequence folders."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sambamotr_jax.formats import mot_text
from sambamotr_jax.formats.mot_text import InputError


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


def test_write_text_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out" / "seq.txt"
    mot_text.write_text_atomic(path, ["a\n", "b\n"])
    mot_text.write_text_atomic(path, ["c\n"])
    assert path.read_text() == "c\n"

    def failing_lines():
        yield "partial\n"
        raise RuntimeError("tracker crashed")

    with pytest.raises(RuntimeError, match="tracker crashed"):
        mot_text.write_text_atomic(path, failing_lines())
    assert path.read_text() == "c\n"
    assert os.listdir(path.parent) == ["seq.txt"]


def test_seqinfo(tmp_path):
    (tmp_path / "seqinfo.ini").write_text(
        "[Sequence]\nname=dancetrack0004\nimDir=img1\nframeRate=20\nseqLength=1200\n"
        "imWidth=1920\nimHeight=1080\nimExt=.jpg\n"
    )
    assert mot_text.read_seqinfo(tmp_path) == mot_text.SeqInfo(
        "dancetrack0004", 1200, "img1", 20.0, 1920, 1080, ".jpg"
    )
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nname=x\n")
    with pytest.raises(InputError, match="no \\[Sequence\\] seqLength"):
        mot_text.read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nseqLength=0\n")
    with pytest.raises(InputError, match="seqLength=0; the sequence is empty"):
        mot_text.read_seqinfo(tmp_path)
    with pytest.raises(InputError, match="seqinfo.ini: file not found"):
        mot_text.read_seqinfo(tmp_path / "other")


def test_frames_jpg_or_png_sorted_by_name(tmp_path):
    img = tmp_path / "seq" / "img1"
    img.mkdir(parents=True)
    for name in ("00000002.png", "00000001.png", "00000010.jpg", "notes.txt", "00000003.JPG"):
        (img / name).write_bytes(b"")
    assert [p.name for p in mot_text.sequence_frames(tmp_path / "seq")] == [
        "00000001.png", "00000002.png", "00000003.JPG", "00000010.jpg",
    ]  # fmt: skip
    flat = tmp_path / "flat"  # frames directly in the sequence folder (BFT layout)
    flat.mkdir()
    (flat / "b.jpg").write_bytes(b"")
    (flat / "a.jpg").write_bytes(b"")
    assert [p.name for p in mot_text.sequence_frames(flat)] == ["a.jpg", "b.jpg"]


def test_empty_sequence_is_an_error(tmp_path):
    (tmp_path / "seq" / "img1").mkdir(parents=True)
    with pytest.raises(InputError, match=r"img1: empty sequence, no \.jpg or \.png frames"):
        mot_text.sequence_frames(tmp_path / "seq")


def test_seqmap_and_sequence_dirs(tmp_path):
    for name in ("b", "a", "c"):
        (tmp_path / "split" / name).mkdir(parents=True)
    seqmap = tmp_path / "val_seqmap.txt"
    seqmap.write_text("name\nc\na\n\n")
    assert mot_text.read_seqmap(seqmap) == ["c", "a"]
    assert [p.name for p in mot_text.sequence_dirs(tmp_path / "split")] == ["a", "b", "c"]
    assert [p.name for p in mot_text.sequence_dirs(tmp_path / "split", ["c", "a"])] == ["c", "a"]
    with pytest.raises(InputError, match=r"missing: \['d'\]"):
        mot_text.sequence_dirs(tmp_path / "split", ["a", "d"])
    with pytest.raises(InputError, match="test_seqmap.txt: seqmap file not found"):
        mot_text.read_seqmap(tmp_path / "test_seqmap.txt")
    seqmap.write_text("name\n")
    with pytest.raises(InputError, match="lists no sequence"):
        mot_text.read_seqmap(seqmap)
