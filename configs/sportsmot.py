"""SambaMOTR on SportsMOT, Deformable-DETR detector (the official sportsmot def_detr yaml).

    python train.py --config=configs/sportsmot.py --workdir=runs/sportsmot \
        --config.data.root=DATA --config.train.init_from=converted/deformable_detr
"""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "SportsMOT"
    c.tracker.miss_tolerance = 50
    c.train.epochs = 28
    c.optim.lr_drop_milestones = (8, 12)
    c.optim.only_train_query_updater_after = 28
    return c
