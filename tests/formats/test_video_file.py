"""Video files through PyAV: frames round-trip in order with their rate; a damaged frame is one
warning and is skipped; an empty, unreadable or missing file is one InputError."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest

from sambamotr_jax.formats import video_file
from sambamotr_jax.formats.errors import InputError


def gray_frames(n, h=48, w=64):
    """Frames of growing brightness with a white bar whose width encodes the frame number."""
    frames = []
    for i in range(n):
        frame = np.full((h, w, 3), 15 * i, np.uint8)
        frame[:, : 4 * (i + 1)] = 255
        frames.append(frame)
    return frames


def write_video(path, frames, fps=10):
    with video_file.VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.count


def corrupt_one_frame(path) -> int:
    """Overwrites the header of the middle video packet of an .avi (MPEG-4 part 2, one packet per
    frame); returns that packet's index. Asserts that FFmpeg really fails to decode that packet,
    and only it (damage inside the picture data is often concealed instead).
    """
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    k = len(packets) // 2
    pos, size = packets[k]
    data = bytearray(path.read_bytes())
    data[pos : pos + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    failed = []
    with av.open(str(path)) as container:
        for i, packet in enumerate(p for p in container.demux(video=0) if p.size):
            try:
                packet.decode()
            except av.error.InvalidDataError:
                failed.append(i)
    assert failed == [k], failed
    return k


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_video_roundtrip(tmp_path, suffix):
    path = tmp_path / f"in{suffix}"
    assert write_video(path, gray_frames(6), fps=12.5) == 6
    video = video_file.open_video(path)
    frames = list(video.frames())
    assert video.fps == 12.5
    assert [f.index for f in frames] == list(range(6))
    assert all(f.rgb.shape == (48, 64, 3) and f.rgb.dtype == np.uint8 for f in frames)
    means = [f.rgb[:, 32:].mean() for f in frames]
    assert means == sorted(means) and abs(means[5] - 75) < 8  # lossy, but in order
    # The white bar of frame i is 4 (i + 1) pixels wide.
    for f in frames:
        bar = (f.rgb[24, :, 0] > 200).sum()
        assert abs(bar - 4 * (f.index + 1)) <= 2


def test_odd_sizes_are_padded_and_folders_get_jpgs(tmp_path):
    write_video(tmp_path / "odd.mp4", gray_frames(2, h=47, w=63))
    frames = list(video_file.open_video(tmp_path / "odd.mp4").frames())
    assert frames[0].rgb.shape == (48, 64, 3)
    assert write_video(tmp_path / "frames_out", gray_frames(3)) == 3
    written = sorted(p.name for p in (tmp_path / "frames_out").iterdir())
    assert written == ["00000001.jpg", "00000002.jpg", "00000003.jpg"]
    with pytest.raises(ValueError, match="differs from the first frame"):
        with video_file.VideoWriter(tmp_path / "bad.mp4", fps=5) as writer:
            writer.write(np.zeros((10, 10, 3), np.uint8))
            writer.write(np.zeros((12, 10, 3), np.uint8))


def test_undecodable_frame_is_one_warning_and_skipped(tmp_path, caplog):
    path = tmp_path / "damaged.avi"
    write_video(path, gray_frames(9))
    k = corrupt_one_frame(path)
    with caplog.at_level(logging.WARNING):
        frames = list(video_file.open_video(path).frames())
    assert [f.index for f in frames] == [i for i in range(9) if i != k]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"damaged.avi: frame {k} cannot be decoded" in warnings[0]
    assert "\n" not in warnings[0]


def test_bad_files_are_one_input_error(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.mp4: empty file \(0 bytes\)"):
        video_file.open_video(tmp_path / "empty.mp4")
    (tmp_path / "notes.mkv").write_text("not a video\n" * 100)
    with pytest.raises(InputError, match=r"notes\.mkv: cannot read this file as a video"):
        video_file.open_video(tmp_path / "notes.mkv")
    with pytest.raises(InputError, match="video file not found"):
        video_file.open_video(tmp_path / "missing.mp4")
