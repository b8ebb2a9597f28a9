"""A small SambaMOTR trained from scratch on the synthetic dataset, on a laptop CPU.

    python train.py --config=configs/synthetic.py --workdir=runs/synthetic

generates the dataset into <workdir>/data (data_pipeline.synthetic: look-alike boxes that move,
cross and occlude each other; 128x96 frames) when it is not there, trains a resnet18 / hidden 64
model, and tracks + scores the val split after every epoch (HOTA in <workdir>/eval.jsonl and
<workdir>/eval/step_<N>/val/tracker/summary.json). Score an export again with eval.py:

    python eval.py --config=configs/synthetic.py --config.data.root=runs/synthetic/data \
        --checkpoint=runs/synthetic/exports/step_<N> --workdir=runs/synthetic/eval_again
"""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "Synthetic"
    m = c.model
    m.backbone = "resnet18"
    m.hidden_dim = 64
    m.ffn_dim = 128
    m.num_heads = 4
    m.enc_points = 2
    m.dec_points = 2
    m.enc_layers = 1
    m.dec_layers = 3
    m.num_det_queries = 20
    m.samba.state_dim = 8
    m.samba.num_layers = 2
    m.samba.num_heads = 2
    m.samba.ffn_dim = 32
    t = c.tracker
    t.short_side = 96  # the synthetic frames' own size: no resize at inference
    t.max_size = 160
    t.max_tracks = 16
    t.miss_tolerance = 10
    d = c.data
    d.synthetic.width = 128
    d.synthetic.height = 96
    d.synthetic.num_frames = 64
    d.synthetic.train_seqs = 8
    d.synthetic.val_seqs = 2
    d.num_workers = 1
    d.sample_lengths = (4,)
    d.sample_intervals = (3,)
    d.select_prob = 1.0  # plain resize only: every frame fits one pad bucket
    d.scales = (80, 88, 96, 104, 112)
    d.max_size = 160
    d.pad_buckets = ((112, 160),)
    d.max_objects = 16
    c.train.epochs = 6
    c.train.no_grad_frames = (0,)
    c.train.track_capacity = 16
    c.train.log_every = 20
    c.train.checkpoint_every = 200
    c.loss.aux_weights = (1.0, 1.0)  # dec_layers - 1 auxiliary layers
    o = c.optim
    o.lr = 4e-4
    o.lr_backbone = 4e-4  # from scratch: the backbone learns as fast as the rest
    o.lr_points = 4e-5
    o.weight_decay = 1e-4
    o.clip_max_norm = 1.0
    o.lr_drop_milestones = (5,)
    o.only_train_query_updater_after = 6
    return c
