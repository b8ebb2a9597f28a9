"""Drawing tracks with supervision's annotators: box and label in the track's colour (by id),
class names in the label for multi-class models, traces; the drawn video has one frame per
tracked frame."""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from sambamotr_jax import api
from sambamotr_jax.formats import bdd100k_json, video_file
from sambamotr_jax.tracking import drawing


def tracks(index, rows):
    """FrameTracks from rows (id, x1, y1, x2, y2[, label])."""
    rows = [tuple(r) + (0,) * (6 - len(r)) for r in rows]
    return api.FrameTracks(
        index=index,
        ids=np.array([r[0] for r in rows], int),
        labels=np.array([r[5] for r in rows], int),
        scores=np.full(len(rows), 0.9, np.float32),
        boxes_xyxy=np.array([r[1:5] for r in rows], np.float32).reshape(-1, 4),
    )


def id_color(track_id):
    return np.array(sv.ColorPalette.DEFAULT.by_idx(track_id).as_bgr(), np.uint8)


def test_box_and_label_in_the_track_colour():
    image = np.zeros((120, 160, 3), np.uint8)
    out = drawing.TrackAnnotator().annotate(image, tracks(0, [(3, 40, 50, 100, 90)]))
    assert not image.any()  # the input is left alone
    color = id_color(3)
    np.testing.assert_array_equal(out[90, 70], color)  # bottom edge
    np.testing.assert_array_equal(out[70, 100], color)  # right edge
    assert not out[70, 70].any()  # inside the box
    assert not out[110, 130].any()  # outside
    # The label: a patch of the track's colour above the box, with the id written in white.
    label = out[20:50, 40:60]
    assert (label == color).all(axis=-1).mean() > 0.4
    assert (label > 200).all(axis=-1).sum() > 5
    # Another id, another colour; the same id keeps its colour in another frame.
    other = drawing.TrackAnnotator().annotate(image, tracks(5, [(4, 40, 50, 100, 90)]))
    np.testing.assert_array_equal(other[90, 70], id_color(4))
    assert (id_color(4) != color).any()


def test_labels_name_the_class_for_multi_class_models():
    t = tracks(0, [(3, 40, 60, 100, 100, 2), (12, 110, 60, 150, 100, 9)])
    assert drawing.TrackAnnotator().labels(t) == ["3", "12"]
    tagged = drawing.TrackAnnotator(bdd100k_json.CATEGORIES)
    assert tagged.labels(t) == ["3 car", "12 class 9"]
    image = np.zeros((120, 200, 3), np.uint8)
    plain, named = drawing.TrackAnnotator().annotate(image, t), tagged.annotate(image, t)
    # "3 car" is a wider label than "3"; the boxes are the same.
    assert (named[:60] != plain[:60]).any()
    np.testing.assert_array_equal(named[70:], plain[70:])


def test_traces_follow_the_box_centre():
    annotator = drawing.TrackAnnotator()
    image = np.zeros((120, 160, 3), np.uint8)
    for i in range(4):
        out = annotator.annotate(image, tracks(i, [(1, 20 + 20 * i, 40, 40 + 20 * i, 60)]))
    # The centres went from x=30 to x=90 along y=50: the path between them is drawn.
    assert (out[50, 45:75] == id_color(1)).all(axis=-1).all()
    assert not drawing.TrackAnnotator().annotate(image, tracks(0, []))[50, 45:75].any()


def test_render_tracks_writes_one_frame_per_tracked_frame(tmp_path):
    frames = [np.full((96, 128, 3), 40 * i, np.uint8) for i in range(4)]
    results = [
        tracks(0, [(7, 10, 20, 50, 70)]),
        tracks(2, []),
        tracks(3, [(7, 12, 20, 52, 70)]),
    ]
    tracked = [(t, frames[t.index]) for t in results]
    assert drawing.render_tracks(iter(tracked), tmp_path / "out.mp4", fps=5) == 3
    video = video_file.open_video(tmp_path / "out.mp4")
    assert video.fps == 5.0 and len(list(video.frames())) == 3

    assert drawing.render_tracks(iter(tracked), tmp_path / "out_frames", fps=5) == 3
    written = sorted((tmp_path / "out_frames").iterdir())
    assert [p.name for p in written] == ["00000001.jpg", "00000002.jpg", "00000003.jpg"]
    first = cv2.imread(str(written[0])).astype(int)
    assert np.abs(first[70, 30] - id_color(7)).max() < 40  # box bottom edge
