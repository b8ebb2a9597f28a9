"""SambaMOTR on BFT (birds), Deformable-DETR detector (the official bft def_detr yaml).

    python train.py --config=configs/bft.py --workdir=runs/bft \
        --config.data.root=DATA --config.train.init_from=converted/deformable_detr
"""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "BFT"
    c.tracker.miss_tolerance = 20
    c.train.epochs = 30
    c.optim.lr_drop_milestones = (10, 20)
    c.optim.only_train_query_updater_after = 30
    return c
