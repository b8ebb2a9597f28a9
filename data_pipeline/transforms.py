"""Clip augmentations (official data/transforms.py), the same random draw for every frame.

Training order (official `transforms_for_train`):
  1. horizontal flip, p = hflip_prob
  2. random select, p = select_prob: resize to a random short side from `scales` (long side
     <= max_size); otherwise resize to a short side from `crop_resize_scales`, random crop of
     width/height in [crop_min_size, min(image side, crop_max_size)], resize from `scales`
     (CrowdHuman pseudo-clips get the official MultiRandomShift before this step)
  3. HSV jitter (YOLOX gains 5/30/30, each channel on with probability 1/2)
  4. to float, ImageNet normalization; boxes to cxcywh normalized by the (unpadded) image size
  5. clip reversal with probability reverse_clip_prob
Boxes are xyxy pixels until step 4. A crop clamps boxes to the crop and drops objects with no
area left (overflow_bbox=True keeps the unclamped box of a kept object, as the official option).

Differences from the official code, all outside what a box or id depends on: images are resized
with OpenCV INTER_LINEAR instead of PIL bilinear (which antialiases when shrinking; the shrink
factors here are >= ~0.5), so pixels differ slightly; random numbers come from a numpy Generator (seeded per clip), not
Python's `random`/torch.

Static shapes (`pad_clips`): every frame of a batch is padded with zeros at the bottom/right to
the first bucket (H, W) of `PadConfig.buckets` that holds all of the batch's frames; the mask is
True on padding. Objects are padded to `max_objects` per frame with obj_mask False.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from sambamotr_jax.formats.frame_images import IMAGENET_MEAN, IMAGENET_STD

MOTR_SCALES = (608, 640, 672, 704, 736, 768, 800, 832, 864, 896, 928, 960, 992)
COCO_SCALES = (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)

# Pad buckets for the official DanceTrack/SportsMOT/BFT/MOT17 augmentation (scales 608..992,
# max size 1536), tried in order. A 16:9 video resized by the plain branch lands in the first
# three (short side 608-640 -> 640x1152, up to 768 -> 768x1376, up to 864 -> 896x1536); the
# crop branch (crop aspect between 2:3 and 3:2) adds landscape frames up to 992x1488 and
# portrait ones up to 1488x992; the square 1536x1536 holds any frame the resize can produce
# (the long side never exceeds max_size).
DEFAULT_BUCKETS = (
    (640, 1152),
    (768, 1376),
    (896, 1536),
    (1024, 1536),
    (1536, 1024),
    (1536, 1536),
)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation. Defaults: official DanceTrack (COCO_SIZE False)."""

    hflip_prob: float = 0.5
    select_prob: float = 0.5  # probability of the plain-resize branch
    scales: tuple[int, ...] = MOTR_SCALES  # short sides of the final resize
    max_size: int = 1536  # long side cap of the final resize
    crop_resize_scales: tuple[int, ...] = (800, 1000, 1200)  # (400, 500, 600) when COCO_SIZE
    crop_min_size: int = 800  # 384 when COCO_SIZE
    crop_max_size: int = 1200  # 600 when COCO_SIZE
    overflow_bbox: bool = False  # OVERFLOW_BBOX
    hsv_gains: tuple[int, int, int] = (5, 30, 30)  # hue, saturation, value; (0,0,0) = no jitter
    reverse_clip_prob: float = 0.0  # REVERSE_CLIP
    shift_max: int = 50  # MultiRandomShift (CrowdHuman pseudo-clips only)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def official(cls, *, coco_size=False, overflow_bbox=False, reverse_clip=0.0):
        """transforms_for_train(COCO_SIZE, OVERFLOW_BBOX, REVERSE_CLIP) of the official code."""
        return cls(
            crop_resize_scales=(400, 500, 600) if coco_size else (800, 1000, 1200),
            crop_min_size=384 if coco_size else 800,
            crop_max_size=600 if coco_size else 1200,
            overflow_bbox=overflow_bbox,
            reverse_clip_prob=reverse_clip,
        )

    @classmethod
    def bdd100k(cls):
        """BDD100K's transforms_for_train: COCO scales, max size 1333, overflow boxes, no reverse."""
        return cls(
            scales=COCO_SCALES,
            max_size=1333,
            crop_resize_scales=(400, 500, 600),
            crop_min_size=384,
            crop_max_size=600,
            overflow_bbox=True,
        )


@dataclasses.dataclass(frozen=True)
class PadConfig:
    """Static output shapes: image buckets and object capacity."""

    buckets: tuple[tuple[int, int], ...] = DEFAULT_BUCKETS  # (H, W), tried in order
    max_objects: int = 128  # objects per frame; extra ones are dropped and counted
    # "float32": ImageNet-normalized images (zeros on padding). "uint8": raw RGB (zeros on
    # padding), 4x fewer bytes between processes and to the device; normalize there with
    # `normalize_images`.
    image_dtype: str = "float32"


@dataclasses.dataclass
class Clip:
    """T frames. images[t] (H, W, 3) uint8 RGB or float32; boxes[t] (N_t, 4) float32."""

    images: list[np.ndarray]
    boxes: list[np.ndarray]  # xyxy pixels until normalize(), then normalized cxcywh
    ids: list[np.ndarray]  # (N_t,) int32
    labels: list[np.ndarray]  # (N_t,) int32
    frames: list[int] = dataclasses.field(default_factory=list)  # frame numbers (reversed too)

    def reverse(self) -> None:
        for field in (self.images, self.boxes, self.ids, self.labels, self.frames):
            field.reverse()

    def select(self, t: int, keep: np.ndarray) -> None:
        self.boxes[t] = self.boxes[t][keep]
        self.ids[t] = self.ids[t][keep]
        self.labels[t] = self.labels[t][keep]


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """Every random choice of one clip's augmentation, drawn before any pixel is touched.

    Drawing first lets every process compute the output frame size of every clip of a global
    batch (and so one pad bucket for all hosts) without decoding images.
    """

    flip: bool
    shift: tuple[int, int, bool] | None  # (x_shift, y_shift, reverse): static clips only
    crop_resize: int | None  # short side before the crop; None = the plain-resize branch
    crop: tuple[int, int, int, int] | None  # (top, left, height, width)
    resize: int  # short side of the final resize
    hsv: tuple[int, int, int]  # hue, saturation, value offsets
    reverse: bool


def draw_augment(
    rng: np.random.Generator, h: int, w: int, cfg: AugmentConfig, *, static: bool = False
) -> tuple[AugmentParams, tuple[int, int]]:
    """Draws the official transform's random choices for frames of size (h, w).

    Returns the parameters and the (height, width) of the augmented frames.
    """
    flip = bool(rng.random() < cfg.hflip_prob)
    shift = None
    if static:  # MultiRandomShift
        x_shift = math.ceil(cfg.shift_max * rng.random()) * (1 if rng.standard_normal() > 0 else -1)
        y_shift = math.ceil(cfg.shift_max * rng.random()) * (1 if rng.standard_normal() > 0 else -1)
        shift = (x_shift, y_shift, bool(rng.standard_normal() > 0))
    crop_resize = crop = None
    if not rng.random() < cfg.select_prob:
        crop_resize = int(cfg.crop_resize_scales[int(rng.integers(len(cfg.crop_resize_scales)))])
        h, w = resized_hw(h, w, crop_resize, None)
        # The official randint(min_size, min(side, max_size)) fails when a side is below
        # min_size; here the crop then takes the whole side.
        crop_w = int(rng.integers(min(cfg.crop_min_size, w), min(w, cfg.crop_max_size) + 1))
        crop_h = int(rng.integers(min(cfg.crop_min_size, h), min(h, cfg.crop_max_size) + 1))
        top = int(rng.integers(0, h - crop_h + 1))
        left = int(rng.integers(0, w - crop_w + 1))
        crop = (top, left, crop_h, crop_w)
        h, w = crop_h, crop_w
    resize = int(cfg.scales[int(rng.integers(len(cfg.scales)))])
    h, w = resized_hw(h, w, resize, cfg.max_size)
    hsv = rng.uniform(-1, 1, 3) * np.asarray(cfg.hsv_gains, np.float64)
    hsv *= rng.integers(0, 2, 3)
    hsv = tuple(int(v) for v in hsv.astype(np.int16))
    reverse = bool(rng.random() < cfg.reverse_clip_prob)
    return AugmentParams(flip, shift, crop_resize, crop, resize, hsv, reverse), (h, w)


def augment_clip(clip: Clip, params: AugmentParams, cfg: AugmentConfig) -> Clip:
    """Official training transform on uint8 frames; boxes end normalized cxcywh.

    Images stay uint8 here: `pad_clips` normalizes them while writing into the batch.
    """
    if params.flip:
        hflip(clip)
    if params.shift is not None:
        shift(clip, *params.shift)
    if params.crop is None:
        resize(clip, params.resize, cfg.max_size)
    else:
        resize(clip, params.crop_resize, None)
        crop(clip, *params.crop, overflow=cfg.overflow_bbox)
        resize(clip, params.resize, cfg.max_size)
    hsv_jitter(clip, params.hsv)
    normalize_boxes(clip)
    if params.reverse:
        clip.reverse()
    return clip


def hflip(clip: Clip) -> None:
    """Official MultiRandomHorizontalFlip (when drawn): x1, x2 -> w - x2, w - x1."""
    for t, img in enumerate(clip.images):
        w = img.shape[1]
        clip.images[t] = cv2.flip(np.ascontiguousarray(img), 1)
        b = clip.boxes[t]
        clip.boxes[t] = np.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1).astype(np.float32)


def resized_hw(h: int, w: int, size: int, max_size: int | None) -> tuple[int, int]:
    """Official get_new_hw, including its int() truncation of the long side of landscapes."""
    if max_size is not None:
        min_wh, max_wh = float(min(w, h)), float(max(w, h))
        if max_wh / min_wh * size > max_size:
            size = int(math.floor(max_size * min_wh / max_wh))
    if w < h:
        return int(round(size * h / w)), size
    return size, int(round(size) * w / h)


def _resize_image(img: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    if img.shape[:2] == (new_h, new_w):
        return img
    return cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def resize(clip: Clip, size: int, max_size: int | None) -> None:
    """Official MultiRandomResize for a drawn short side; boxes scale with the image."""
    for t, img in enumerate(clip.images):
        h, w = img.shape[:2]
        new_h, new_w = resized_hw(h, w, size, max_size)
        clip.images[t] = _resize_image(img, new_h, new_w)
        scale = np.array([new_w / w, new_h / h, new_w / w, new_h / h], np.float32)
        clip.boxes[t] = clip.boxes[t] * scale


def _crop_boxes(clip: Clip, t: int, top: int, left: int, h: int, w: int, overflow: bool) -> None:
    boxes = clip.boxes[t] - np.array([left, top, left, top], np.float32)
    clamped = np.minimum(boxes.reshape(-1, 2, 2), np.array([w, h], np.float32)).clip(min=0)
    keep = np.all(clamped[:, 1, :] > clamped[:, 0, :], axis=1)
    clip.boxes[t] = boxes if overflow else clamped.reshape(-1, 4)
    clip.select(t, keep)


def crop(clip: Clip, top: int, left: int, h: int, w: int, *, overflow: bool) -> None:
    """Official MultiRandomCrop: one window for the whole clip; objects left empty dropped."""
    for t, img in enumerate(clip.images):
        clip.images[t] = img[top : top + h, left : left + w]
        _crop_boxes(clip, t, top, left, h, w, overflow)


def _crop_with_zeros(img: np.ndarray, top: int, left: int, h: int, w: int) -> np.ndarray:
    """torchvision F.crop: a window that may leave the image, zeros outside."""
    out = np.zeros((h, w) + img.shape[2:], img.dtype)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, img.shape[0]), min(left + w, img.shape[1])
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = img[y0:y1, x0:x1]
    return out


def shift(clip: Clip, x_shift: int, y_shift: int, reverse: bool) -> None:
    """Official MultiRandomShift (CrowdHuman): frame t is a shifted, re-zoomed frame t - 1.

    Quirk kept: x_max = max(w, w - x_shift), so only a negative x shift moves the window.
    """
    h, w = clip.images[0].shape[:2]
    y_min, y_max = max(0, -y_shift), min(h, h - y_shift)
    x_min, x_max = max(0, -x_shift), max(w, w - x_shift)
    top, left, rh, rw = int(y_min), int(x_min), int(y_max - y_min), int(x_max - x_min)
    for t in range(1, len(clip.images)):
        img = _crop_with_zeros(clip.images[t - 1], top, left, rh, rw)
        clip.images[t] = _resize_image(img, h, w)
        boxes = clip.boxes[t - 1] - np.array([left, top, left, top], np.float32)
        boxes = boxes * np.array([w / rw, h / rh, w / rw, h / rh], np.float32)
        clamped = np.minimum(boxes.reshape(-1, 2, 2), np.array([w, h], np.float32)).clip(min=0)
        keep = np.all(clamped[:, 1, :] > clamped[:, 0, :], axis=1)
        clip.boxes[t] = clamped.reshape(-1, 4)[keep]
        clip.ids[t] = clip.ids[t - 1][keep]
        clip.labels[t] = clip.labels[t - 1][keep]
    if reverse:
        clip.reverse()


def hsv_jitter(clip: Clip, augs: tuple[int, int, int]) -> None:
    """Official MultiHSV (from YOLOX), including the RGB->HSV->RGB round trip.

    The official int16 arithmetic ((h + dh) % 180, clip(s + ds), clip(v + dv)) is applied as one
    per-channel lookup table, which gives the same uint8 values.
    """
    v = np.arange(256, dtype=np.int16)
    lut = np.stack(
        [(v + augs[0]) % 180, np.clip(v + augs[1], 0, 255), np.clip(v + augs[2], 0, 255)], -1
    ).astype(np.uint8)[None]  # (1, 256, 3)
    for t, img in enumerate(clip.images):
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        clip.images[t] = cv2.cvtColor(cv2.LUT(hsv, lut), cv2.COLOR_HSV2RGB)


def normalize_boxes(clip: Clip) -> None:
    """xyxy pixels -> cxcywh divided by the image (w, h, w, h)."""
    for t, img in enumerate(clip.images):
        h, w = img.shape[:2]
        b = clip.boxes[t]
        cxcywh = np.stack(
            [
                (b[:, 0] + b[:, 2]) / 2,
                (b[:, 1] + b[:, 3]) / 2,
                b[:, 2] - b[:, 0],
                b[:, 3] - b[:, 1],
            ],
            1,
        )
        clip.boxes[t] = (cxcywh / np.array([w, h, w, h], np.float32)).astype(np.float32)


def normalize_image(img: np.ndarray, mean, std, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 x * (1 / (255 std)) - mean / std, into out if given."""
    std = np.asarray(std, np.float32)
    scale = (1.0 / (255.0 * std)).astype(np.float32)
    offset = (-np.asarray(mean, np.float32) / std).astype(np.float32)
    f = img.astype(np.float32)
    cv2.multiply(f, (*map(float, scale), 0.0), dst=f)
    cv2.add(f, (*map(float, offset), 0.0), dst=f)
    if out is None:
        return f
    out[...] = f
    return out


def choose_bucket(
    sizes: list[tuple[int, int]], buckets: tuple[tuple[int, int], ...]
) -> tuple[int, int]:
    """First bucket (H, W) that holds every (h, w) in sizes."""
    max_h = max(h for h, _ in sizes)
    max_w = max(w for _, w in sizes)
    for bh, bw in buckets:
        if max_h <= bh and max_w <= bw:
            return bh, bw
    raise ValueError(
        f"no pad bucket holds a {max_h}x{max_w} frame; buckets {buckets} (PadConfig.buckets)"
    )


def pad_clips(
    clips: list[Clip], cfg: PadConfig, mean, std, bucket: tuple[int, int] | None = None
) -> dict[str, np.ndarray]:
    """B clips of T uint8 frames -> fixed-shape arrays (see pipeline.py for the keys).

    bucket: the (H, W) to pad to; default the first of cfg.buckets that holds these clips.
    """
    b, t = len(clips), len(clips[0].images)
    sizes = [img.shape[:2] for c in clips for img in c.images]
    bh, bw = bucket or choose_bucket(sizes, cfg.buckets)
    if max(h for h, _ in sizes) > bh or max(w for _, w in sizes) > bw:
        raise ValueError(f"frames {sizes} do not fit the pad bucket {(bh, bw)}")
    m = cfg.max_objects
    if cfg.image_dtype not in ("float32", "uint8"):
        raise ValueError(f"PadConfig.image_dtype must be float32 or uint8, not {cfg.image_dtype!r}")
    raw = cfg.image_dtype == "uint8"
    images = np.zeros((b, t, bh, bw, 3), np.uint8 if raw else np.float32)
    pad_mask = np.ones((b, t, bh, bw), bool)
    boxes = np.zeros((b, t, m, 4), np.float32)
    ids = np.full((b, t, m), -1, np.int32)
    labels = np.zeros((b, t, m), np.int32)
    obj_mask = np.zeros((b, t, m), bool)
    frame_sizes = np.zeros((b, t, 2), np.int32)
    dropped = np.zeros((b, t), np.int32)
    for i, clip in enumerate(clips):
        if len(clip.images) != t:
            raise ValueError("clips of one batch must have the same length")
        for j, img in enumerate(clip.images):
            h, w = img.shape[:2]
            if raw:
                images[i, j, :h, :w] = img
            else:
                normalize_image(img, mean, std, out=images[i, j, :h, :w])
            pad_mask[i, j, :h, :w] = False
            frame_sizes[i, j] = (h, w)
            n = min(len(clip.ids[j]), m)
            dropped[i, j] = len(clip.ids[j]) - n
            boxes[i, j, :n] = clip.boxes[j][:n]
            ids[i, j, :n] = clip.ids[j][:n]
            labels[i, j, :n] = clip.labels[j][:n]
            obj_mask[i, j, :n] = True
    return {
        "images": images,
        "pad_mask": pad_mask,
        "boxes": boxes,
        "ids": ids,
        "labels": labels,
        "obj_mask": obj_mask,
        "frame_sizes": frame_sizes,
        "num_dropped_objects": dropped,
    }


def normalize_images(images, pad_mask, mean=IMAGENET_MEAN, std=IMAGENET_STD, xp=np):
    """uint8 batch (..., H, W, 3) + pad_mask (..., H, W) -> the float32 batch PadConfig
    "float32" would give (normalized, zeros on padding). xp: numpy or jax.numpy."""
    std = xp.asarray(std, xp.float32)
    x = images.astype(xp.float32) * (1.0 / (255.0 * std)) - xp.asarray(mean, xp.float32) / std
    return xp.where(pad_mask[..., None], xp.zeros((), xp.float32), x)
