"""A small SambaMOTR trained from scratch on the synthetic dataset, on a laptop CPU.

    python train.py --config=configs/synthetic.py --workdir=runs/synthetic

generates the dataset into <workdir>/data when it is not there (data_pipeline.synthetic_mot:
look-alike boxes that move, cross and occlude each other; 80x60 frames, 8 train and 2 val
sequences of 64 frames), trains a resnet18 / hidden 64 / 16 queries model on clips of 3 frames
(8 epochs of ~500 steps, lr drop after epoch 6), and after epochs 4 and 8 tracks and scores the
val split (HOTA in <workdir>/eval.jsonl and <workdir>/eval/step_<N>/val/tracker/summary.json).
The evaluated parameters are kept as converted checkpoints; score one again with eval.py:

    python eval.py --config=configs/synthetic.py --config.data.root=runs/synthetic/data \
        --checkpoint=runs/synthetic/exports/step_3968 --workdir=runs/synthetic/eval_again

Expected: 17-20 CPU minutes (12-14 wall, data generation, compilation and both evaluations
included) and a final val HOTA of 64-71 on a 2-core Intel Xeon (AVX-512), seeds 42, 1 and 2
(`--config.seed=N`). XLA:CPU rounds differently on other CPUs and training from scratch amplifies
it: other 2-core machines have ended anywhere from HOTA 53 to 72 (docs/benchmarks.md).
"""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "SyntheticMOT"
    m = c.model
    m.backbone = "resnet18"
    m.hidden_dim = 64
    m.ffn_dim = 128
    m.num_heads = 4
    m.enc_points = 2
    m.dec_points = 2
    m.enc_layers = 1
    m.dec_layers = 3
    m.num_det_queries = 16
    # Frames this small keep a few MB for the backward pass: recomputing costs compile time and
    # buys nothing (the DanceTrack-sized defaults are in configs/common.py).
    m.recompute_ffn = False
    m.recompute_encoder = False
    m.samba.state_dim = 8
    m.samba.num_layers = 2
    m.samba.num_heads = 2
    m.samba.ffn_dim = 32
    t = c.tracker
    t.short_side = 60  # the synthetic frames' own size: no resize at inference
    t.max_size = 80
    t.max_tracks = 16
    t.miss_tolerance = 10
    # The score thresholds stay the official 0.5 (det / track / result). Final exports of the
    # 8-epoch recipe, seeds 42/1/2/3/4, HOTA at 0.5 vs 0.4: 72.1/63.5/71.6/60.5/64.9 vs
    # 72.4/60.3/68.4/60.6/61.4 (mean 66.5 vs 64.6). Half-trained models score lower, so 0.4
    # helps in the middle (epoch 4, seed 42: 68.5 vs 61.8); the final model is what counts.
    # The official results filter drops boxes of area <= 100 px (DanceTrack frames are 1080p);
    # the synthetic objects are 5x10 to 9x18 px, 61% of the val boxes are <= 100 px, and would
    # never be reported (the 4-epoch recipe's final export: HOTA 39.2 with 100, 61.3 with 25).
    t.area_thresh = 25.0
    d = c.data
    d.synthetic.width = 80
    d.synthetic.height = 60
    d.synthetic.object_height = (10, 18)
    d.synthetic.speed = (0.4, 1.2)
    d.synthetic.num_frames = 64
    d.synthetic.train_seqs = 8
    d.synthetic.val_seqs = 2
    d.num_workers = 1
    d.sample_lengths = (3,)
    d.sample_intervals = (3,)
    d.select_prob = 1.0  # plain resize only, to the frames' own size: one pad bucket
    d.scales = (60,)
    d.max_size = 80
    d.pad_buckets = ((60, 80),)
    d.max_objects = 8
    c.train.epochs = 8
    c.eval.every_epochs = 4  # val HOTA after epochs 4 and 8 (each evaluation costs ~30 CPU s)
    c.train.no_grad_frames = (0,)
    c.train.track_capacity = 12
    c.train.encode_clip_at_once = True  # 60x80 frames: ~1.6x faster steps, memory no concern
    c.train.log_every = 20
    # Checkpoints at each epoch end (496 steps, ~1.5 minutes) and every 1000 steps: a save of the
    # 11M-parameter state costs ~3 CPU s (a save every 200 steps would be ~6% of the run).
    c.train.checkpoint_every = 1000
    c.loss.aux_weights = (1.0, 1.0)  # dec_layers - 1 auxiliary layers
    o = c.optim
    o.lr = 4e-4
    o.lr_backbone = 4e-4  # from scratch: the backbone learns as fast as the rest
    o.lr_points = 4e-5
    o.weight_decay = 1e-4
    o.clip_max_norm = 1.0
    o.lr_drop_milestones = (6,)
    o.only_train_query_updater_after = 8
    return c
