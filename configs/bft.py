"""SambaMOTR on BFT (birds), Deformable-DETR detector (the official bft def_detr yaml)."""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "BFT"
    c.tracker.miss_tolerance = 20
    return c
