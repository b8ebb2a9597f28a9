"""Frame images: reading one (file or encoded bytes), its size, and the official test-time
resize and ImageNet normalization constants that tracking, data and training share.

Images are (H, W, 3) uint8 RGB, decoded by OpenCV as the official loaders do (`cv2.imread`, then
BGR -> RGB). The official inference resize (SeqDataset.process_image) scales the shorter side to
`short_side`, capped so the longer side is at most `max_size`, with Python float arithmetic and
`int()` truncation, and resizes with OpenCV's bilinear filter.

A truncated file is an error, not a frame with a grey bottom: OpenCV decodes what is there, fills
the rest with grey and only prints a libjpeg warning without the file name. Before decoding, a
JPEG must end with its end marker (FFD9) and a PNG with its IEND chunk within the last
`_TAIL_BYTES` bytes; a file that does not is decoded by PIL, which raises on a truncated image
(so data after the end marker is allowed), and an `InputError` names the file. Intact images
are decoded by OpenCV as before, bit for bit.
"""

from __future__ import annotations

import io
import os

import cv2
import numpy as np

from sambamotr_jax.formats.errors import InputError

# ImageNet normalization of [0, 1] RGB: (x - mean) / std, per channel.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
_TAIL_BYTES = 1024  # where the end marker must be (a few bytes of padding after it are common)


def _truncation(head: bytes, tail: bytes, data) -> str | None:
    """Why an encoded image is incomplete, or None.

    Args:
      head: its first bytes (>= 8); tail: its last `_TAIL_BYTES` bytes (or all of it).
      data: the whole file (bytes or a path), read only when the end marker is missing.
    """
    if head.startswith(_JPEG_START):
        if _JPEG_END in tail:
            return None
        what = "JPEG"
    elif head.startswith(_PNG_START):
        if _PNG_END in tail:
            return None
        what = "PNG"
    else:
        return None
    from PIL import Image  # noqa: PLC0415 (only for files without an end marker)

    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
            im.load()
    except (OSError, ValueError, SyntaxError) as err:
        return f"truncated or corrupt {what} ({err}); the file was cut short, copy it again"
    return None


def check_complete(data: bytes, where: str) -> None:
    """Raises InputError naming `where` when the encoded image `data` is truncated."""
    problem = _truncation(data[:8], data[-_TAIL_BYTES:], data)
    if problem:
        raise InputError(f"{where}: {problem}")


def _check_file(path: str | os.PathLike) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - _TAIL_BYTES, 0))
            tail = f.read()
    except OSError:
        return  # missing or unreadable: cv2.imread reports it below
    problem = _truncation(head, tail, os.fspath(path))
    if problem:
        raise InputError(f"{path}: {problem}")


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file as (H, W, 3) uint8 RGB.

    Raises:
      InputError: the file is missing, truncated, or not an image OpenCV can decode.
    """
    _check_file(path)
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: cannot read this image (missing or not a .jpg/.png)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_rgb(data: bytes, where: str = "record") -> np.ndarray:
    """Encoded .jpg/.png bytes -> (H, W, 3) uint8 RGB; `where` names the source in errors.

    Raises:
      InputError: the bytes are truncated or not an image OpenCV can decode.
    """
    check_complete(data, where)
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
