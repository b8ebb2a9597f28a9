"""Sequence folders: seqinfo.ini, seqmaps, frame order, the sequences of a split."""

from __future__ import annotations

import pytest

from sambamotr_jax.formats import sequence_folder
from sambamotr_jax.formats.errors import InputError


def test_seqinfo(tmp_path):
    (tmp_path / "seqinfo.ini").write_text(
        "[Sequence]\nname=dancetrack0004\nimDir=img1\nframeRate=20\nseqLength=1200\n"
        "imWidth=1920\nimHeight=1080\nimExt=.jpg\n"
    )
    assert sequence_folder.read_seqinfo(tmp_path) == sequence_folder.SeqInfo(
        "dancetrack0004", 1200, "img1", 20.0, 1920, 1080, ".jpg"
    )
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nname=x\n")
    with pytest.raises(InputError, match="no \\[Sequence\\] seqLength"):
        sequence_folder.read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nseqLength=0\n")
    with pytest.raises(InputError, match="seqLength=0; the sequence is empty"):
        sequence_folder.read_seqinfo(tmp_path)
    with pytest.raises(InputError, match="seqinfo.ini: file not found"):
        sequence_folder.read_seqinfo(tmp_path / "other")


def test_frames_jpg_or_png_sorted_by_name(tmp_path):
    img = tmp_path / "seq" / "img1"
    img.mkdir(parents=True)
    for name in ("00000002.png", "00000001.png", "00000010.jpg", "notes.txt", "00000003.JPG"):
        (img / name).write_bytes(b"")
    assert [p.name for p in sequence_folder.sequence_frames(tmp_path / "seq")] == [
        "00000001.png", "00000002.png", "00000003.JPG", "00000010.jpg",
    ]  # fmt: skip
    flat = tmp_path / "flat"  # frames directly in the sequence folder (BFT layout)
    flat.mkdir()
    (flat / "b.jpg").write_bytes(b"")
    (flat / "a.jpg").write_bytes(b"")
    assert [p.name for p in sequence_folder.sequence_frames(flat)] == ["a.jpg", "b.jpg"]


def test_empty_sequence_is_an_error(tmp_path):
    (tmp_path / "seq" / "img1").mkdir(parents=True)
    with pytest.raises(InputError, match=r"img1: empty sequence, no \.jpg or \.png frames"):
        sequence_folder.sequence_frames(tmp_path / "seq")


def test_seqmap_and_sequence_dirs(tmp_path):
    for name in ("b", "a", "c"):
        (tmp_path / "split" / name).mkdir(parents=True)
    seqmap = tmp_path / "val_seqmap.txt"
    seqmap.write_text("name\nc\na\n\n")
    assert sequence_folder.read_seqmap(seqmap) == ["c", "a"]
    assert [p.name for p in sequence_folder.sequence_dirs(tmp_path / "split")] == ["a", "b", "c"]
    assert [p.name for p in sequence_folder.sequence_dirs(tmp_path / "split", ["c", "a"])] == [
        "c",
        "a",
    ]
    with pytest.raises(InputError, match=r"missing: \['d'\]"):
        sequence_folder.sequence_dirs(tmp_path / "split", ["a", "d"])
    with pytest.raises(InputError, match="test_seqmap.txt: seqmap file not found"):
        sequence_folder.read_seqmap(tmp_path / "test_seqmap.txt")
    seqmap.write_text("name\n")
    with pytest.raises(InputError, match="lists no sequence"):
        sequence_folder.read_seqmap(seqmap)


def test_frames_ordered_by_number_not_name(tmp_path):
    for name in ("10.png", "9.png", "2.png", "1.png"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in sequence_folder.list_frames(tmp_path)] == [
        "1.png", "2.png", "9.png", "10.png",
    ]  # fmt: skip
    assert list(sequence_folder.numbered_frames(tmp_path)) == [1, 2, 9, 10]
    (tmp_path / "0009.jpg").write_bytes(b"")
    with pytest.raises(InputError, match=r"0009\.jpg and 9\.png are both frame 9"):
        sequence_folder.list_frames(tmp_path)


def test_bdd100k_frame_names_and_unnumbered_frames(tmp_path):
    for name in ("b1c6-7d68-0000010.jpg", "b1c6-7d68-0000002.jpg", "cover.jpg"):
        (tmp_path / name).write_bytes(b"")
    assert sequence_folder.frame_number("b1c6-7d68-0000010.jpg") == 10
    assert sequence_folder.frame_number("cover.jpg") is None
    assert [p.name for p in sequence_folder.list_frames(tmp_path)] == [
        "b1c6-7d68-0000002.jpg", "b1c6-7d68-0000010.jpg", "cover.jpg",
    ]  # fmt: skip
    with pytest.raises(InputError, match=r"cover\.jpg: frame name is not a number"):
        sequence_folder.numbered_frames(tmp_path)


def test_seqmap_rule_names_file_and_line(tmp_path):
    seqmap = tmp_path / "val_seqmap.txt"
    seqmap.write_text("name\ndancetrack0004\n\ndancetrack0005\n")
    assert sequence_folder.read_seqmap(seqmap) == ["dancetrack0004", "dancetrack0005"]
    seqmap.write_text("name\ndancetrack0004\ndancetrack0005,extra\n")
    with pytest.raises(InputError, match=r"val_seqmap\.txt:3: 'dancetrack0005,extra' is not one"):
        sequence_folder.read_seqmap(seqmap)
    seqmap.write_text("dancetrack0004\ndancetrack0005\n")
    with pytest.raises(InputError, match=r"val_seqmap\.txt:1: .* not the header 'name'"):
        sequence_folder.read_seqmap(seqmap)


def test_seqinfo_bad_value_names_file_and_line(tmp_path):
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nname=s\nseqLength=12\nimWidth=wide\n")
    with pytest.raises(InputError, match=r"seqinfo\.ini:4: imWidth='wide' is not an integer"):
        sequence_folder.read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nname=s\nseqLength\n")
    with pytest.raises(InputError, match=r"seqinfo\.ini:3: not an ini file"):
        sequence_folder.read_seqinfo(tmp_path)


def test_write_seqinfo_reads_back(tmp_path):
    info = sequence_folder.SeqInfo("s", 6, "img1", 20.0, 96, 64, ".jpg")
    sequence_folder.write_seqinfo(tmp_path, info)
    assert (tmp_path / "seqinfo.ini").read_text() == (
        "[Sequence]\nname=s\nimDir=img1\nframeRate=20\nseqLength=6\nimWidth=96\nimHeight=64\n"
        "imExt=.jpg\n"
    )
    assert sequence_folder.read_seqinfo(tmp_path) == info
