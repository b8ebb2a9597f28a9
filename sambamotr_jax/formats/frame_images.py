"""Frame images: reading one (file or encoded bytes), its size, and the official test-time
resize and ImageNet normalization constants that tracking, data and training share.

Images are (H, W, 3) uint8 RGB, decoded by OpenCV as the official loaders do (`cv2.imread`, then
BGR -> RGB). The official inference resize (SeqDataset.process_image) scales the shorter side to
`short_side`, capped so the longer side is at most `max_size`, with Python float arithmetic and
`int()` truncation, and resizes with OpenCV's bilinear filter.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from sambamotr_jax.formats.errors import InputError

# ImageNet normalization of [0, 1] RGB: (x - mean) / std, per channel.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file as (H, W, 3) uint8 RGB.

    Raises:
      InputError: the file is missing or not an image OpenCV can decode.
    """
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: cannot read this image (missing or not a .jpg/.png)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_rgb(data: bytes, where: str = "record") -> np.ndarray:
    """Encoded .jpg/.png bytes -> (H, W, 3) uint8 RGB; `where` names the source in errors.

    Raises:
      InputError: the bytes are not an image OpenCV can decode.
    """
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{where}: image bytes could not be decoded")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) from the image header, without decoding the pixels.

    Raises:
      InputError: the file is missing or not an image.
    """
    from PIL import Image  # noqa: PLC0415 (only the data pipeline needs it)

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: unreadable image ({err})") from None
    return h, w


def resized_size(height: int, width: int, short_side: int, max_size: int) -> tuple[int, int]:
    """Target (h, w) of the official inference resize (Python float arithmetic, truncation)."""
    scale = short_side / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale), int(width * scale)


def inference_resize(image: np.ndarray, short_side: int = 800, max_size: int = 1536) -> np.ndarray:
    """(H, W, C) image resized as the official SeqDataset.process_image (OpenCV bilinear)."""
    th, tw = resized_size(*image.shape[:2], short_side, max_size)
    return cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
