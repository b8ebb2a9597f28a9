"""SambaMOTR on BDD100K MOT 2020: the data, schedule and tracker of the official MeMOTR
train_bdd100k.yaml (configs/memotr_bdd100k.py) with the Samba query updater and the
Deformable-DETR detector of the SambaMOTR configs (configs/common.py). There is no official
SambaMOTR BDD100K yaml; only the query updater and detector differ from the MeMOTR config.

    python -m sambamotr_jax.convert --checkpoint=r50_deformable_detr.pth \
        --config=configs/bdd100k.py --output=converted/deformable_detr_8cls \
        --allow-missing=query_updater --allow-missing=class_embed
    python train.py --config=configs/bdd100k.py --workdir=runs/bdd100k \
        --config.data.root=DATA --config.train.init_from=converted/deformable_detr_8cls

    python eval.py --config=configs/bdd100k.py --checkpoint=CKPT --split=val --workdir=OUT \
        --config.data.root=DATA
"""

from configs import common, memotr_bdd100k


def get_config():
    c = memotr_bdd100k.bdd100k_defaults(common.get_config())
    c.model.query_updater = "samba"
    c.model.use_dab = False
    return c
