"""A tiny model that tests import: resnet18, hidden 32, 1 encoder + 2 decoder layers, few queries.

Trains on a tiny synthetic dataset (64x48 frames, clips of 2 frames) in seconds per step:

    python train.py --config=configs/tiny.py --workdir=/tmp/tiny --config.train.max_steps=4
"""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "SyntheticMOT"
    m = c.model
    m.backbone = "resnet18"
    m.hidden_dim = 32
    m.ffn_dim = 64
    m.num_heads = 2
    m.enc_points = 2
    m.dec_points = 2
    m.enc_layers = 1
    m.dec_layers = 2
    m.num_det_queries = 8
    # Frames this small keep a few MB for the backward pass: recomputing costs compile time and
    # buys nothing (the DanceTrack-sized defaults are in configs/common.py).
    m.recompute_ffn = False
    m.recompute_encoder = False
    m.samba.state_dim = 4
    m.samba.num_layers = 2
    m.samba.num_heads = 2
    m.samba.ffn_dim = 8
    c.tracker.short_side = 64
    c.tracker.max_size = 96
    c.tracker.max_tracks = 4
    c.tracker.max_tracks_limit = 16
    # Data: 64x48 synthetic frames, no rescaling, one pad bucket.
    d = c.data
    d.synthetic.width = 64
    d.synthetic.height = 48
    d.synthetic.num_frames = 12
    d.synthetic.train_seqs = 2
    d.synthetic.val_seqs = 1
    d.num_workers = 0
    d.sample_lengths = (2,)
    d.sample_intervals = (2,)
    d.select_prob = 1.0
    d.scales = (48,)
    d.max_size = 64
    d.pad_buckets = ((48, 64),)
    d.max_objects = 8
    # Training: every frame with gradient, small track capacity, log and save often.
    t = c.train
    t.epochs = 1
    t.no_grad_frames = (0,)
    t.track_capacity = 4
    t.log_every = 1
    t.checkpoint_every = 2
    c.loss.aux_weights = (1.0,)  # dec_layers - 1 auxiliary layers
    c.loss.assignment = "jax"  # no host callback: the persistent compilation cache applies
    c.optim.only_train_query_updater_after = 1
    c.eval.every_epochs = 0
    return c
