"""Official inference preprocessing: RGB, shorter side to `short_side` capped so the longer side is
at most `max_size`, OpenCV bilinear resize of the uint8 frame, ImageNet normalization, zero padding
to a multiple of 32 with a mask (True = padding), as the official SeqDataset + NestedTensor do.
"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
SIZE_DIVISIBILITY = 32


def resized_size(height: int, width: int, short_side: int, max_size: int) -> tuple[int, int]:
    """Target (h, w) exactly as the official SeqDataset computes it (Python float arithmetic)."""
    scale = short_side / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale), int(width * scale)


def padded_size(height: int, width: int, divisibility: int = SIZE_DIVISIBILITY) -> tuple[int, int]:
    """(h, w) rounded up to a multiple of `divisibility` (the official NestedTensor padding)."""
    return (
        (height + divisibility - 1) // divisibility * divisibility,
        (width + divisibility - 1) // divisibility * divisibility,
    )


def load_rgb(path: str | pathlib.Path) -> np.ndarray:
    """Reads an image file as (H, W, 3) uint8 RGB; fails with the file name when unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}: missing or not an image file")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def normalize_frame(frame_rgb: np.ndarray, short_side: int, max_size: int) -> np.ndarray:
    """(H0, W0, 3) uint8 RGB -> (h, w, 3) float32 resized and ImageNet-normalized (no padding)."""
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB frame, got shape {frame_rgb.shape} {frame_rgb.dtype}"
        )
    h0, w0 = frame_rgb.shape[:2]
    th, tw = resized_size(h0, w0, short_side, max_size)
    resized = cv2.resize(frame_rgb, (tw, th), interpolation=cv2.INTER_LINEAR)
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
