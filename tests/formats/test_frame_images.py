"""Frame images: one reader (file or bytes), the official resize, ImageNet constants."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sambamotr_jax.formats import frame_images
from sambamotr_jax.formats.errors import InputError


def test_read_rgb_and_decode_rgb_agree(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 200  # red
    path = tmp_path / "f.png"
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    np.testing.assert_array_equal(frame_images.read_rgb(path), rgb)
    np.testing.assert_array_equal(frame_images.decode_rgb(path.read_bytes()), rgb)
    assert frame_images.image_size(path) == (4, 6)


def test_unreadable_images_name_the_file(tmp_path):
    with pytest.raises(InputError, match="nope.jpg"):
        frame_images.read_rgb(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="seq3 frame 2: image bytes could not be decoded"):
        frame_images.decode_rgb(b"not an image", "seq3 frame 2")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"bad\.jpg: unreadable image"):
        frame_images.image_size(tmp_path / "bad.jpg")


def test_inference_resize_is_the_official_rule():
    image = np.zeros((100, 150, 3), np.uint8)
    assert frame_images.inference_resize(image, 70, 200).shape == (70, 105, 3)
    assert frame_images.resized_size(720, 2560, 800, 1536) == (432, 1536)


def _jpeg(path, seed=0):
    rgb = np.random.default_rng(seed).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", rgb)
    assert ok
    path.write_bytes(buf.tobytes())
    return buf.tobytes()


def test_truncated_images_are_errors_naming_the_file(tmp_path):
    data = _jpeg(tmp_path / "whole.jpg")
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.jpg: truncated or corrupt JPEG \(image file is"):
        frame_images.read_rgb(tmp_path / "cut.jpg")
    with pytest.raises(InputError, match=r"seq3 frame 2: truncated or corrupt JPEG"):
        frame_images.decode_rgb(data[:-100], "seq3 frame 2")
    rgb = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    png = cv2.imencode(".png", rgb)[1].tobytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    with pytest.raises(InputError, match=r"cut\.png: truncated or corrupt PNG"):
        frame_images.read_rgb(tmp_path / "cut.png")


def test_intact_images_decode_as_opencv_does(tmp_path):
    data = _jpeg(tmp_path / "whole.jpg")
    want = cv2.cvtColor(cv2.imread(str(tmp_path / "whole.jpg")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(frame_images.read_rgb(tmp_path / "whole.jpg"), want)
    np.testing.assert_array_equal(frame_images.decode_rgb(data), want)
    # Data after the end marker (as some cameras append) is not a truncation.
    (tmp_path / "trailer.jpg").write_bytes(data + bytes(5000))
    np.testing.assert_array_equal(frame_images.read_rgb(tmp_path / "trailer.jpg"), want)
