"""SambaMOTR on DanceTrack, Deformable-DETR detector (the official def_detr yaml).

Train (8 GPUs, one clip each; COCO Deformable-DETR weights converted with convert.py):

    python train.py --config=configs/dancetrack.py --workdir=runs/dancetrack \
        --config.data.root=DATA --config.train.init_from=converted/deformable_detr

Track and score a checkpoint:

    python -m sambamotr_jax.track --config=configs/dancetrack.py --checkpoint=CKPT \
        --input=DanceTrack/val/dancetrack0004 --output=dancetrack0004.txt

`--config.model.use_dab=True` selects the DAB variant (FFN 2048 follows automatically; the
official DAB yaml also uses miss tolerance 50: `--config.tracker.miss_tolerance=50`).
"""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "DanceTrack"
    c.tracker.miss_tolerance = 45
    return c
