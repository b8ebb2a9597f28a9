"""Official inference preprocessing: RGB, the official test-time resize (shorter side to
`short_side` capped so the longer side is at most `max_size`, `formats.frame_images`), ImageNet
normalization, zero padding to a multiple of 32 with a mask (True = padding), as the official
SeqDataset + NestedTensor do.
"""

from __future__ import annotations

import numpy as np

from sambamotr_jax.formats import frame_images

IMAGENET_MEAN = np.array(frame_images.IMAGENET_MEAN, dtype=np.float32)
IMAGENET_STD = np.array(frame_images.IMAGENET_STD, dtype=np.float32)
SIZE_DIVISIBILITY = 32


def padded_size(height: int, width: int, divisibility: int = SIZE_DIVISIBILITY) -> tuple[int, int]:
    """(h, w) rounded up to a multiple of `divisibility` (the official NestedTensor padding)."""
    return (
        (height + divisibility - 1) // divisibility * divisibility,
        (width + divisibility - 1) // divisibility * divisibility,
    )


def normalize_frame(frame_rgb: np.ndarray, short_side: int, max_size: int) -> np.ndarray:
    """(H0, W0, 3) uint8 RGB -> (h, w, 3) float32 resized and ImageNet-normalized (no padding)."""
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB frame, got shape {frame_rgb.shape} {frame_rgb.dtype}"
        )
    resized = frame_images.inference_resize(frame_rgb, short_side, max_size)
    return (resized.astype(np.float32) / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD


def preprocess_frame(
    frame_rgb: np.ndarray, short_side: int = 800, max_size: int = 1536
) -> tuple[np.ndarray, np.ndarray]:
    """One frame -> (image (Hp, Wp, 3) float32, pad_mask (Hp, Wp) bool True = padding)."""
    image = normalize_frame(frame_rgb, short_side, max_size)
    h, w = image.shape[:2]
    hp, wp = padded_size(h, w)
    padded = np.zeros((hp, wp, 3), np.float32)
    padded[:h, :w] = image
    mask = np.ones((hp, wp), bool)
    mask[:h, :w] = False
    return padded, mask


def step_inputs(
    frame_rgb: np.ndarray, short_side: int, max_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frame step's inputs for one frame: image (1, Hp, Wp, 3) float32, pad_mask (1, Hp, Wp)
    bool, orig_hw (2,) float32 original (height, width)."""
    image, mask = preprocess_frame(frame_rgb, short_side, max_size)
    return image[None], mask[None], np.array(frame_rgb.shape[:2], np.float32)


def input_size(height: int, width: int, short_side: int, max_size: int) -> tuple[int, int]:
    """(Hp, Wp) the frame step sees for an original (height, width) frame: resized, then padded."""
    return padded_size(*frame_images.resized_size(height, width, short_side, max_size))
