"""SambaMOTR on MOT17 jointly with CrowdHuman, Deformable-DETR detector.

The official SambaMOTR has no MOT17 yaml: this is the SambaMOTR DanceTrack recipe (clips of 10
frames, the first 5 without gradient, 20 epochs) with the MOT17 data settings of MeMOTR's
train_mot17.yaml: CrowdHuman val images as static pseudo-clips, COCO-size crops, overflowing
boxes, miss tolerance 15. Expects DATA/MOT17/images/{train,val} and DATA/CrowdHuman.

    python train.py --config=configs/mot17.py --workdir=runs/mot17 \
        --config.data.root=DATA --config.train.init_from=converted/deformable_detr
"""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "MOT17"
    c.data.use_crowdhuman = True
    c.data.mot17_join_epoch = 0
    # COCO_SIZE: True (smaller crops), OVERFLOW_BBOX: True.
    c.data.crop_resize_scales = (400, 500, 600)
    c.data.crop_min_size = 384
    c.data.crop_max_size = 600
    c.data.overflow_bbox = True
    c.tracker.miss_tolerance = 15
    return c
