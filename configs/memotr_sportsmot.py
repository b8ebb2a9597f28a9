"""MeMOTR on SportsMOT, DAB-Deformable-DETR detector (the official MeMOTR train_sportsmot.yaml)."""

from configs import memotr_dancetrack


def get_config():
    c = memotr_dancetrack.get_config()
    c.data.dataset = "SportsMOT"
    return c
