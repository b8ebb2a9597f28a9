"""SambaMOTR on SportsMOT, Deformable-DETR detector (the official sportsmot def_detr yaml)."""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "SportsMOT"
    c.tracker.miss_tolerance = 50
    return c
