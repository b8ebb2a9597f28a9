"""MeMOTR on MOT17 (+CrowdHuman), DAB-Deformable-DETR detector (the official train_mot17.yaml)."""

from configs import memotr_dancetrack


def get_config():
    c = memotr_dancetrack.get_config()
    c.data.dataset = "MOT17"
    c.tracker.miss_tolerance = 15
    return c
