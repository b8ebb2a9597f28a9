"""Our preprocessing of the fixture's uint8 frames reproduces the official model inputs exactly."""

import numpy as np
import pytest

from sambamotr_jax.formats import frame_images
from sambamotr_jax.online import frame_preprocess


def test_fixture_frames_reproduce_official_images(def_detr_fixture):
    inputs = np.load(def_detr_fixture / "inputs.npz")
    for t in range(len(inputs["frames_uint8"])):
        image, mask = frame_preprocess.preprocess_frame(inputs["frames_uint8"][t], 256, 352)
        np.testing.assert_array_equal(image, inputs["model_input_tensors"][t].transpose(1, 2, 0))
        np.testing.assert_array_equal(mask, inputs["model_input_masks"][t])
        assert tuple(inputs["resized_sizes"][t]) == image.shape[:2]


@pytest.mark.parametrize(
    "hw, expected",
    [
        ((1080, 1920), (800, 1422)),  # DanceTrack: shorter side 800
        ((720, 2560), (432, 1536)),  # very wide: longer side capped at 1536
        ((800, 600), (1066, 800)),  # portrait
    ],
)
def test_resized_size_follows_official_rule(hw, expected):
    assert frame_images.resized_size(*hw, 800, 1536) == expected


def test_padding_to_multiple_of_32_with_mask():
    frame = np.full((100, 150, 3), 128, np.uint8)
    image, mask = frame_preprocess.preprocess_frame(frame, short_side=70, max_size=200)
    assert frame_images.resized_size(100, 150, 70, 200) == (70, 105)
    assert image.shape == (96, 128, 3) and mask.shape == (96, 128)
    assert not mask[:70, :105].any() and mask[70:].all() and mask[:, 105:].all()
    assert (image[70:] == 0).all()
    expected = (128 / 255 - frame_preprocess.IMAGENET_MEAN) / frame_preprocess.IMAGENET_STD
    np.testing.assert_allclose(image[0, 0], expected, rtol=1e-6)


def test_rejects_non_uint8_frames():
    with pytest.raises(ValueError, match="uint8"):
        frame_preprocess.preprocess_frame(np.zeros((10, 10, 3), np.float32))
