"""Reading the official fixtures (../shared/fixtures/official_*) into our layouts.

Shared by the parity tests and `tools/grad_precision.py`, which replays the parity test's clip.
"""

from __future__ import annotations

import numpy as np

# Our detector output key -> the fixture's per-frame key (train_clip.npz, tracker frames).
OUTPUT_KEYS = {
    "pred_logits": "pred_logits",
    "pred_boxes": "pred_bboxes",
    "aux_pred_logits": "aux_pred_logits",
    "aux_pred_boxes": "aux_pred_bboxes",
    "outputs": "outputs",
    "aux_last_queries": "aux_last_queries",
    "last_ref_pts": "last_ref_pts",
    "init_ref_pts": "init_ref_pts",
}


def training_batch(z, num_frames: int, max_objects: int, dtype=np.float32) -> dict:
    """The official training clip (train_clip.npz `z`) as `train_step.clip_forward`'s batch.

    Returns (T, ...) arrays: images (T, H, W, 3) and boxes in `dtype`, the ground truth padded to
    `max_objects` rows (padding: id -1, box 0.25, obj_mask False).
    """
    images = z["images"].transpose(0, 2, 3, 1)  # (T, 3, H, W) -> (T, H, W, 3)
    batch = {
        "images": images.astype(dtype),
        "pad_mask": np.zeros(images.shape[:3], bool),
        "ids": np.full((num_frames, max_objects), -1, np.int32),
        "labels": np.zeros((num_frames, max_objects), np.int32),
        "boxes": np.full((num_frames, max_objects, 4), 0.25, np.float32),
        "obj_mask": np.zeros((num_frames, max_objects), bool),
    }
    for t in range(num_frames):
        n = len(z[f"f{t}/gt_ids"])
        batch["ids"][t, :n] = z[f"f{t}/gt_ids"]
        batch["labels"][t, :n] = z[f"f{t}/gt_labels"]
        batch["boxes"][t, :n] = z[f"f{t}/gt_boxes_cxcywh"]
        batch["obj_mask"][t, :n] = True
    batch["boxes"] = batch["boxes"].astype(dtype)
    return batch


def tracker_config(config_module, meta: dict):
    """`config_module.get_config()` set up as the official tracker run of a fixture: its
    thresholds (meta.json) and the fixture's preprocessing (short side 256, max size 352)."""
    th = meta["inference"]["thresholds"]
    config = config_module.get_config()
    config.tracker.det_score_thresh = th["DET_SCORE_THRESH"]
    config.tracker.track_score_thresh = th["TRACK_SCORE_THRESH"]
    config.tracker.result_score_thresh = th["RESULT_SCORE_THRESH"]
    config.tracker.miss_tolerance = th["MISS_TOLERANCE"]
    config.model.update_thresh = th["UPDATE_THRESH"]
    config.tracker.short_side, config.tracker.max_size = 256, 352
    return config
