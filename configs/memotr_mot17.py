"""MeMOTR on MOT17 (+CrowdHuman), DAB-Deformable-DETR detector (the official train_mot17.yaml).

    python train.py --config=configs/memotr_mot17.py --workdir=runs/memotr_mot17 \
        --config.data.root=DATA --config.train.init_from=converted/dab_deformable_detr
"""

from configs import memotr_dancetrack


def get_config():
    c = memotr_dancetrack.get_config()
    c.data.dataset = "MOT17"
    c.tracker.miss_tolerance = 15
    c.data.use_crowdhuman = True
    c.data.mot17_join_epoch = 0
    c.data.sample_steps = (60, 100)
    c.data.sample_lengths = (2, 3, 4)
    # COCO_SIZE: True (smaller crops), OVERFLOW_BBOX: True.
    c.data.crop_resize_scales = (400, 500, 600)
    c.data.crop_min_size = 384
    c.data.crop_max_size = 600
    c.data.overflow_bbox = True
    c.train.epochs = 130
    c.optim.only_train_query_updater_after = 130
    c.optim.lr_drop_milestones = (120,)
    c.optim.lr_points = 2e-5
    c.optim.weight_decay = 1e-4
    return c
