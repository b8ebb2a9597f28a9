"""MeMOTR on DanceTrack, DAB-Deformable-DETR detector (the official MeMOTR train_dancetrack.yaml).

    python -m sambamotr_jax.track --config=configs/memotr_dancetrack.py --checkpoint=CKPT \
        --input=DanceTrack/val/dancetrack0004 --output=dancetrack0004.txt

`--config.model.use_dab=False` selects the Deformable-DETR variant (FFN 1024 follows, as the
official train_dancetrack_deformable_detr.yaml).
"""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "DanceTrack"
    c.model.query_updater = "memotr"
    c.model.use_dab = True
    c.tracker.miss_tolerance = 30
    return c
