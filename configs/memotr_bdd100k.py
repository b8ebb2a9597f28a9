"""MeMOTR on BDD100K MOT 2020, DAB-Deformable-DETR detector (the official MeMOTR
train_bdd100k.yaml): 8 classes, clips of 2 -> 3 -> 4 frames (interval 4) from epochs 6 and 10,
13 epochs with the learning rate dropped at 12, weight decay 2e-4, the COCO-sized augmentation
of the official BDD100K loader (short sides 480..800, long side <= 1333, crop branch 400..600
then a 384..600 crop keeping the overflowing boxes).

    python -m sambamotr_jax.convert --checkpoint=r50_dab_deformable_detr.pth \
        --config=configs/memotr_bdd100k.py --output=converted/dab_deformable_detr_8cls \
        --allow-missing=query_updater --allow-missing=class_embed
    python train.py --config=configs/memotr_bdd100k.py --workdir=runs/memotr_bdd100k \
        --config.data.root=DATA --config.train.init_from=converted/dab_deformable_detr_8cls

The COCO checkpoint's 91-way class heads are not used for 8 classes (the official loader skips
them too): the converter reports them missing and `--allow-missing=class_embed` keeps their fresh
initialization. The official MeMOTR BDD100K checkpoint converts with nothing missing.

    python eval.py --config=configs/memotr_bdd100k.py --checkpoint=CKPT --split=val \
        --workdir=OUT --config.data.root=DATA

eval.py writes the official per-video result json (and MOT text with the class column) into
OUT/val/tracker/ and scores it against DATA/BDD100K/labels/box_track_20/val/ (TETA, HOTA, MOTA,
IDF1: mTETA ... mIDF1 in summary.json). Periodic evaluation in train.py does the same on
config.eval.split and logs those scores.
"""

from configs import common


def bdd100k_defaults(c):
    """The fields train_bdd100k.yaml sets (and the official BDD100K loader hard-codes), shared by
    the MeMOTR and SambaMOTR BDD100K configs."""
    c.data.dataset = "BDD100K"
    c.model.num_classes = 8
    t = c.tracker
    t.det_score_thresh = 0.5
    t.track_score_thresh = 0.5
    t.result_score_thresh = 0.5
    t.miss_tolerance = 10
    d = c.data
    d.sample_steps = (6, 10)
    d.sample_lengths = (2, 3, 4)
    d.sample_modes = ("random_interval",)
    d.sample_intervals = (4, 4, 4)
    # data/bdd100k.py transfroms_for_train (not the DanceTrack loader's values).
    d.scales = (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)
    d.max_size = 1333
    d.crop_resize_scales = (400, 500, 600)
    d.crop_min_size = 384
    d.crop_max_size = 600
    d.overflow_bbox = True
    # 1280x720 frames resize to at most 750x1333; a square bucket catches anything else.
    d.pad_buckets = ((480, 864), (576, 1024), (672, 1216), (768, 1344), (1344, 1344))
    tr = c.train
    tr.epochs = 13
    tr.no_grad_frames = (0,)  # no NO_GRAD_FRAMES in the yaml: every frame has gradient
    tr.no_grad_steps = (0,)
    o = c.optim
    o.lr = 2e-4
    o.lr_backbone = 2e-5
    o.lr_points = 1e-5
    o.weight_decay = 2e-4
    o.clip_max_norm = 0.1
    o.lr_scheduler = "MultiStep"
    o.lr_drop_milestones = (12,)
    o.lr_drop_rate = 0.1
    o.only_train_query_updater_after = 1000  # i.e. never
    c.eval.interval = 1  # the BDD100K evaluation needs every frame
    return c


def get_config():
    c = bdd100k_defaults(common.get_config())
    c.model.query_updater = "memotr"
    c.model.use_dab = True
    c.model.update_thresh = 0.5
    c.model.long_memory_lambda = 0.01
    return c
