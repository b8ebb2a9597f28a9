"""Shared defaults: the official SambaMOTR DanceTrack yaml
(`configs/sambamotr/dancetrack/def_detr/train_residual_masking_sync_longer.yaml`).

Experiment files start from `get_config()` here and change what their official yaml changes.
Groups: `model` (architecture), `tracker` (inference), `data` (dataset, sampling, augmentation),
`train` (loop, schedule of frozen frames, checkpoints), `optim` (AdamW + MultiStep), `loss`
(matcher costs and loss weights), `mesh` (devices), `eval` (periodic and eval.py scoring).
"""

from __future__ import annotations

import ml_collections


def model_config() -> ml_collections.ConfigDict:
    m = ml_collections.ConfigDict()
    m.use_dab = False  # DAB-Deformable-DETR detector (official USE_DAB) instead of Deformable-DETR
    m.query_updater = "samba"  # 'samba' (SambaMOTR) | 'memotr' (MeMOTR long-term memory)
    m.num_classes = 1  # 1 for DanceTrack/SportsMOT/BFT/MOT17, 8 for BDD100K
    m.backbone = "resnet50"  # resnet50 (official) | resnet34 | resnet18 (small, for CPU training)
    m.hidden_dim = 256  # transformer width (official HIDDEN_DIM)
    m.ffn_dim = 0  # transformer FFN width; 0 = follow the variant as the official yamls: 2048 DAB, 1024 Def-DETR
    m.num_feature_levels = 4  # multi-scale levels (official NUM_FEATURE_LEVELS)
    m.num_heads = 8  # deformable attention heads (official NUM_HEADS)
    m.enc_points = 4  # sampling points per head and level in the encoder (NUM_ENC_POINTS)
    m.dec_points = 4  # ... in the decoder (NUM_DEC_POINTS)
    m.enc_layers = 6  # encoder layers (NUM_ENC_LAYERS)
    m.dec_layers = 6  # decoder layers (NUM_DEC_LAYERS)
    m.num_det_queries = 300  # detection queries (NUM_DET_QUERIES)
    m.update_thresh = (
        0.5  # query updater: a track's observation is used when score > this (UPDATE_THRESH)
    )
    m.long_memory_lambda = 0.01  # MeMOTR long-term memory EMA rate (LONG_MEMORY_LAMBDA)
    m.ms_deform_attn_impl = (
        ""  # '' = backend default (pallas on GPU, xla elsewhere) | 'xla' | 'pallas'
    )
    # Training memory, outputs unchanged: the transformer FFNs recompute their hidden activations
    # (4x the width per token, the largest residual) in the backward pass instead of keeping
    # them; one matmul + ReLU per layer (docs/benchmarks.md, "Training memory").
    m.recompute_ffn = True
    # Training memory, outputs unchanged: the encoder layers keep only their input and the
    # deformable attention's value, sampling locations, weights and output; `src + pos`, the
    # residual sums, the LayerNorms and the FFN are recomputed in the backward pass (one more
    # matmul per layer than recompute_ffn alone; docs/benchmarks.md, "Training memory").
    m.recompute_encoder = True
    m.dtype = "float32"  # compute dtype: float32 | bfloat16 (params and Samba state stay float32)
    # Samba sequence model (official SAMBA_* / STATE_DIM / EXPAND / CONV_DIM fields).
    m.samba = ml_collections.ConfigDict()
    m.samba.state_dim = 16  # SSM state size per channel (STATE_DIM)
    m.samba.expand = 2  # inner width = expand * hidden_dim (EXPAND)
    m.samba.num_layers = 4  # Samba layers (SAMBA_NUM_LAYERS)
    m.samba.conv_dim = 4  # causal conv history length (CONV_DIM)
    m.samba.num_heads = 4  # synchronization attention heads (SAMBA_NUM_HEADS)
    m.samba.ffn_dim = 128  # synchronization attention FFN width (SAMBA_FFN_DIM)
    m.samba.with_self_attn = (
        True  # synchronization across tracklets (WITH_SELF_ATTN); False = Mamba ablation
    )
    m.samba.masking = True  # MaskObs for low-confidence observations (MASKING)
    m.samba.residual = True  # residual query update (RESIDUAL)
    m.samba.standard_heads = (
        False  # True: textbook head split; False: the official head-split quirk
    )
    return m


def tracker_config() -> ml_collections.ConfigDict:
    t = ml_collections.ConfigDict()
    t.det_score_thresh = (
        0.5  # a detection query starts a track when its score >= this (DET_SCORE_THRESH)
    )
    t.track_score_thresh = (
        0.5  # a track counts as missed in a frame when its score < this (TRACK_SCORE_THRESH)
    )
    t.result_score_thresh = (
        0.5  # a track is written to the results when its score > this (RESULT_SCORE_THRESH)
    )
    t.miss_tolerance = (
        45  # a track is killed after this many consecutive missed frames (MISS_TOLERANCE)
    )
    t.area_thresh = (
        100.0  # results keep boxes with area > this, in original pixels (official constant)
    )
    t.short_side = 800  # inference resize: shorter side (official SeqDataset image_height)
    t.max_size = 1536  # inference resize: cap on the longer side (official image_width)
    t.max_tracks = 32  # initial track capacity of the jitted frame step (cost grows with it)
    t.max_tracks_limit = (
        512  # capacity doubles up to this when tracks would not fit (exact: the frame is redone)
    )
    return t


def data_config() -> ml_collections.ConfigDict:
    d = ml_collections.ConfigDict()
    d.dataset = "DanceTrack"  # DanceTrack | SportsMOT | BFT | MOT17 | BDD100K | SyntheticMOT (the folder name)
    d.root = ""  # folder holding <dataset>/{train,val,test}/...; required for real datasets
    d.prepared_dir = ""  # where training records are prepared; '' = <root>/tfds_prepared
    d.num_workers = 4  # grain worker processes feeding training batches (official NUM_WORKERS)
    # Clip sampling per stage (official SAMPLE_*): a stage starts at each epoch in sample_steps.
    d.sample_steps = ()  # SAMPLE_STEPS: epochs where the next stage starts
    d.sample_lengths = (10,)  # SAMPLE_LENGTHS: frames per clip, per stage
    d.sample_modes = ("random_interval",)  # SAMPLE_MODES (only random_interval exists)
    d.sample_intervals = (10,)  # SAMPLE_INTERVALS: largest frame interval, per stage
    d.use_crowdhuman = False  # USE_CROWDHUMAN: MOT17 joint training with CrowdHuman val images
    d.mot17_join_epoch = 0  # SAMPLE_MOT17_JOIN: first epoch with MOT17 clips
    # Augmentation (official transforms_for_train; these are the COCO_SIZE=False values).
    d.hflip_prob = 0.5  # horizontal flip probability
    d.select_prob = 0.5  # probability of the plain-resize branch (else resize-crop-resize)
    d.scales = (608, 640, 672, 704, 736, 768, 800, 832, 864, 896, 928, 960, 992)  # short sides
    d.max_size = 1536  # cap on the long side after resizing
    d.crop_resize_scales = (800, 1000, 1200)  # short sides before the random crop
    d.crop_min_size = 800  # random crop side range [min, max] (COCO_SIZE: 384, 600)
    d.crop_max_size = 1200
    d.overflow_bbox = False  # OVERFLOW_BBOX: keep unclamped boxes of cropped objects
    d.hsv_gains = (5, 30, 30)  # HSV jitter gains (hue, saturation, value); (0, 0, 0) = none
    d.reverse_clip = 0.0  # REVERSE_CLIP: probability of playing a clip backwards
    # Static shapes: frames are padded to the first bucket (H, W) that holds the whole batch.
    d.pad_buckets = (
        (640, 1152),
        (768, 1376),
        (896, 1536),
        (1024, 1536),
        (1536, 1024),
        (1536, 1536),
    )
    d.max_objects = 128  # ground-truth objects per frame (more are dropped and counted)
    d.image_dtype = "uint8"  # images sent to devices as uint8 (normalized there) or float32
    # Synthetic dataset (data_pipeline.synthetic_mot), generated into <root> when absent.
    d.synthetic = ml_collections.ConfigDict()
    d.synthetic.width = 128  # frame width in pixels
    d.synthetic.height = 96  # frame height in pixels
    d.synthetic.num_frames = 64  # frames per sequence
    d.synthetic.object_height = (18, 30)  # range of object heights in pixels
    d.synthetic.speed = (0.6, 2.0)  # range of object speeds in pixels per frame
    d.synthetic.train_seqs = 4  # training sequences
    d.synthetic.val_seqs = 2  # validation sequences
    d.synthetic.seed = 0  # generator seed
    return d


def train_config() -> ml_collections.ConfigDict:
    t = ml_collections.ConfigDict()
    t.epochs = 20  # training epochs (official EPOCHS)
    t.max_steps = 0  # stop after this many steps (batches) in all; 0 = run every epoch
    t.batch_per_device = 1  # clips per device and step (official BATCH_SIZE, one clip per GPU)
    t.track_capacity = 100  # track slots carried between the frames of a training clip
    # Frames without gradient (official NO_GRAD_FRAMES / NO_GRAD_STEPS): from epoch
    # no_grad_steps[i] on, the first no_grad_frames[i] frames of a clip run without gradient.
    t.no_grad_frames = (5,)
    t.no_grad_steps = (0,)
    t.remat = False  # rematerialize each frame in the backward pass (official USE_CHECKPOINT)
    # Backbone + encoder of all a clip's frames as one batch before the frame loop (the official
    # loop runs them frame by frame; same values). Faster on small frames (synthetic step 0.19 ->
    # 0.12 s), but at 800x1440 a 10-frame clip needs 45.8 GiB instead of 20.4 (docs/benchmarks.md).
    # Ignored with remat.
    t.encode_clip_at_once = False
    t.init_from = ""  # converted checkpoint directory (convert.py) to start from, e.g. COCO DETR
    t.log_every = 20  # steps between logged metrics (progress bar, TensorBoard, metrics.jsonl)
    t.checkpoint_every = 1000  # steps between checkpoints (also at each epoch end and at a stop)
    t.keep_checkpoints = 3  # checkpoints kept in <workdir>/checkpoints
    return t


def optim_config() -> ml_collections.ConfigDict:
    o = ml_collections.ConfigDict()
    o.lr = 2e-4  # AdamW learning rate (official LR)
    o.lr_backbone = 2e-5  # backbone learning rate (LR_BACKBONE)
    o.lr_points = 1e-5  # sampling offsets and reference points learning rate (LR_POINTS)
    o.weight_decay = 5e-4  # AdamW weight decay (WEIGHT_DECAY)
    o.clip_max_norm = 0.1  # global gradient norm clipping; 0 = none (CLIP_MAX_NORM)
    o.accumulation_steps = 1  # batches whose gradients are averaged per update (ACCUMULATION_STEPS)
    o.lr_scheduler = "MultiStep"  # MultiStep | Cosine, stepped once per epoch (LR_SCHEDULER)
    o.lr_drop_milestones = (10,)  # MultiStep: epochs where the learning rates drop
    o.lr_drop_rate = 0.1  # MultiStep factor (LR_DROP_RATE)
    # From this epoch on only the query updater trains (the other groups get lr 0).
    o.only_train_query_updater_after = 20
    return o


def loss_config() -> ml_collections.ConfigDict:
    w = ml_collections.ConfigDict()
    w.match_cost_class = 2.0  # Hungarian matcher: focal class cost weight (MATCH_COST_CLASS)
    w.match_cost_bbox = 5.0  # ... L1 box cost weight (MATCH_COST_BBOX)
    w.match_cost_giou = 2.0  # ... GIoU cost weight (MATCH_COST_GIOU)
    w.focal_weight = 2.0  # loss weights: focal (LOSS_WEIGHT_FOCAL)
    w.l1_weight = 5.0  # L1 (LOSS_WEIGHT_L1)
    w.giou_weight = 2.0  # GIoU (LOSS_WEIGHT_GIOU)
    w.aux_weights = (1.0, 1.0, 1.0, 1.0, 1.0)  # per auxiliary decoder layer (AUX_LOSS_WEIGHT)
    w.focal_alpha = 0.25  # focal loss alpha (official constant)
    w.focal_gamma = 2.0  # focal loss gamma (official constant)
    # Hungarian solver: 'scipy' (host callback, float64 as the official code) | 'jax' (exact
    # on-device solver, float32; no host round trip, cacheable compilation).
    w.assignment = "scipy"
    return w


def get_config() -> ml_collections.ConfigDict:
    """Base config: SambaMOTR, Deformable-DETR detector, DanceTrack defaults."""
    c = ml_collections.ConfigDict()
    c.model = model_config()
    c.tracker = tracker_config()
    c.data = data_config()
    c.train = train_config()
    c.optim = optim_config()
    c.loss = loss_config()
    c.mesh = ml_collections.ConfigDict()
    c.mesh.data = -1  # devices along the data-parallel axis; -1 = every device of every host
    c.eval = ml_collections.ConfigDict()
    c.eval.split = "val"  # split that eval.py (and periodic evaluation) tracks and scores
    c.eval.interval = 1  # track every k-th frame and score those frames (official EVAL_INTERVAL)
    c.eval.seqmap = (
        ""  # seqmap file; '' = <split>_seqmap.txt beside the split if present, else all folders
    )
    c.eval.every_epochs = 1  # evaluate on eval.split after every k epochs; 0 = never (EVAL_EPOCHS)
    c.eval.every_steps = 0  # also evaluate every k steps; 0 = never
    c.seed = 42  # global seed (official SEED)
    return c
