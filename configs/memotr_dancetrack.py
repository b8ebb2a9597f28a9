"""MeMOTR on DanceTrack, DAB-Deformable-DETR detector (the official MeMOTR train_dancetrack.yaml).

    python train.py --config=configs/memotr_dancetrack.py --workdir=runs/memotr_dancetrack \
        --config.data.root=DATA --config.train.init_from=converted/dab_deformable_detr

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
    # Clips grow from 2 to 5 frames; every frame has gradient (no NO_GRAD_FRAMES in the yaml).
    c.data.sample_steps = (6, 10, 14)
    c.data.sample_lengths = (2, 3, 4, 5)
    c.train.no_grad_frames = (0,)
    c.optim.lr_drop_milestones = (12,)
    return c
