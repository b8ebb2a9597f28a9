"""Drawing boxes and ids with a stable colour per id; reading and writing videos and frame folders."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.tracking import drawing


def test_color_per_id_is_fixed_and_distinct():
    # Golden-ratio hues at saturation 0.85, value 0.95, as BGR.
    assert [drawing.color_for_id(i) for i in range(4)] == [
        (36, 36, 242), (242, 96, 36), (36, 242, 157), (217, 36, 242),
    ]  # fmt: skip
    colors = [drawing.color_for_id(i) for i in range(64)]
    assert len(set(colors)) == 64
    assert drawing.color_for_id(np.int64(5)) == colors[5]


def test_draw_tracks_box_and_label():
    image = np.zeros((120, 160, 3), np.uint8)
    out = drawing.draw_tracks(image, [(3, 40.0, 50.0, 60.0, 40.0, 0.9)], thickness=1)
    assert not image.any()  # the input is left alone
    color = np.array(drawing.color_for_id(3), np.uint8)
    np.testing.assert_array_equal(out[90, 70], color)  # bottom edge (y1 + h = 90)
    np.testing.assert_array_equal(out[70, 100], color)  # right edge (x1 + w = 100)
    assert not out[70, 70].any()  # inside the box
    assert not out[30, 130].any()  # outside
    # The id label sits on a patch of the track's colour just above the box.
    label = out[30:50, 40:60]
    assert (label == color).all(axis=-1).mean() > 0.4
    # The id is written in white on this dark patch; a longer id makes a wider label.
    assert (label > 200).all(axis=-1).sum() > 5
    wide = drawing.draw_tracks(image, [(3333, 40.0, 50.0, 60.0, 40.0)], thickness=1)

    def label_right_end(drawn, track_id):
        patch = (drawn[30:49, :] == drawing.color_for_id(track_id)).all(axis=-1)
        return int(np.nonzero(patch.any(axis=0))[0].max())

    assert label_right_end(wide, 3333) >= label_right_end(out, 3) + 30  # 3 more digits


def test_label_stays_inside_frame_at_top():
    out = drawing.draw_tracks(np.zeros((60, 80, 3), np.uint8), [(1, 10, 0, 30, 30)])
    color = np.array(drawing.color_for_id(1), np.uint8)
    assert (out[0:12, 10:20] == color).all(axis=-1).mean() > 0.4


def _gray_frames(n, h=48, w=64):
    return [np.full((h, w, 3), 40 * i, np.uint8) for i in range(n)]


def test_video_roundtrip_and_input_frames(tmp_path):
    video = tmp_path / "in.mp4"
    with drawing.FrameWriter(video, fps=10) as writer:
        for frame in _gray_frames(5):
            writer.write(frame)
    frames, fps = drawing.read_video(video)
    frames = list(frames)
    assert fps == 10.0 and len(frames) == 5 and frames[0].shape == (48, 64, 3)
    means = [f.mean() for f in frames]
    assert means == sorted(means) and abs(means[4] - 160) < 8  # lossy, but in order

    paths, fps = drawing.input_frames(video, tmp_path / "extracted")
    assert [p.name for p in paths] == [f"{i:08d}.png" for i in range(1, 6)] and fps == 10.0
    np.testing.assert_array_equal(cv2.imread(str(paths[2])), frames[2])


def test_input_frames_folder_uses_seqinfo_rate(tmp_path):
    seq = tmp_path / "seq"
    (seq / "img1").mkdir(parents=True)
    for i, frame in enumerate(_gray_frames(3), start=1):
        cv2.imwrite(str(seq / "img1" / f"{i:08d}.jpg"), frame)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=seq\nseqLength=3\nframeRate=25\n")
    paths, fps = drawing.input_frames(seq, tmp_path / "unused")
    assert [p.name for p in paths] == ["00000001.jpg", "00000002.jpg", "00000003.jpg"]
    assert fps == 25.0 and not (tmp_path / "unused").exists()
    assert drawing.input_frames(seq / "img1", tmp_path)[1] == 25.0
    with pytest.raises(InputError, match="not a frames folder nor a video"):
        drawing.input_frames(tmp_path / "notes.txt", tmp_path)
    with pytest.raises(InputError, match="video file not found"):
        drawing.input_frames(tmp_path / "missing.mp4", tmp_path)


def test_render_tracks_to_video_and_folder(tmp_path):
    frame_dir = tmp_path / "frames"
    frame_dir.mkdir()
    for i, frame in enumerate(_gray_frames(4, h=96, w=128), start=1):
        cv2.imwrite(str(frame_dir / f"{i:08d}.png"), frame)
    frames = sorted(frame_dir.iterdir())
    results = [
        (1, [(7, 10.0, 20.0, 40.0, 50.0, 0.9)]),
        (3, []),
        (4, [(7, 12.0, 20.0, 40.0, 50.0, 0.8)]),
    ]

    assert drawing.render_tracks(frames, iter(results), tmp_path / "out.mp4", fps=5) == 3
    video, fps = drawing.read_video(tmp_path / "out.mp4")
    assert fps == 5.0 and len(list(video)) == 3

    assert drawing.render_tracks(frames, iter(results), tmp_path / "out_frames", fps=5) == 3
    written = sorted((tmp_path / "out_frames").iterdir())
    assert [p.name for p in written] == ["00000001.jpg", "00000002.jpg", "00000003.jpg"]
    first = cv2.imread(str(written[0])).astype(int)
    assert np.abs(first[70, 30] - np.array(drawing.color_for_id(7))).max() < 40  # box bottom edge
    with pytest.raises(ValueError, match="differs from the first frame"):
        with drawing.FrameWriter(tmp_path / "bad.mp4", fps=5) as writer:
            writer.write(np.zeros((10, 10, 3), np.uint8))
            writer.write(np.zeros((12, 10, 3), np.uint8))
