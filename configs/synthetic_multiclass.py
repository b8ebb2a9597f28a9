"""The tiny model (configs/tiny.py) with 4 classes, on the synthetic dataset generated with
classes (data_pipeline.synthetic_mot: class 1..4 in gt column 8, each class its own colour and
aspect ratio). Tracked and scored as BDD100K (classes 1..4 are pedestrian, rider, car, truck):

    python train.py --config=configs/synthetic_multiclass.py --workdir=/tmp/mc \
        --config.train.max_steps=2
    python eval.py --config=configs/synthetic_multiclass.py --config.data.root=/tmp/mc/data \
        --checkpoint=/tmp/mc/exports/step_2 --workdir=/tmp/mc/eval --format=bdd100k

The result json and MOT text with the class column go to /tmp/mc/eval/val/tracker/, the gt.txt
files converted to BDD100K json to /tmp/mc/eval/val/gt_bdd100k/, the scores (mTETA ...) to
summary.json.
"""

from configs import tiny


def get_config():
    c = tiny.get_config()
    c.model.num_classes = 4
    # Periodic evaluation (off, as in tiny.py) would track and score as BDD100K like eval.py
    # (split_eval.default_result_format: multi-class): --config.eval.every_steps=N turns it on.
    c.eval.every_epochs = 0
    c.eval.every_steps = 0
    return c
