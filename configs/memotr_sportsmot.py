"""MeMOTR on SportsMOT, DAB-Deformable-DETR detector (the official MeMOTR train_sportsmot.yaml).

    python train.py --config=configs/memotr_sportsmot.py --workdir=runs/memotr_sportsmot \
        --config.data.root=DATA --config.train.init_from=converted/dab_deformable_detr
"""

from configs import memotr_dancetrack


def get_config():
    c = memotr_dancetrack.get_config()
    c.data.dataset = "SportsMOT"
    c.data.sample_steps = (10, 16, 22)
    c.train.epochs = 28
    c.optim.only_train_query_updater_after = 28
    c.optim.lr_drop_milestones = (18,)
    return c
