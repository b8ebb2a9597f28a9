"""Shared defaults: the official SambaMOTR DanceTrack yaml
(`configs/sambamotr/dancetrack/def_detr/train_residual_masking_sync_longer.yaml`).

Experiment files start from `get_config()` here and change what their official yaml changes.
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


def get_config() -> ml_collections.ConfigDict:
    """Base config: SambaMOTR, Deformable-DETR detector, DanceTrack defaults."""
    c = ml_collections.ConfigDict()
    c.model = model_config()
    c.tracker = tracker_config()
    c.data = ml_collections.ConfigDict()
    c.data.dataset = "DanceTrack"  # DanceTrack | SportsMOT | BFT | MOT17 | BDD100K | Synthetic
    c.data.root = ""  # folder holding <dataset>/{train,val,test}/...; required for real datasets
    c.eval = ml_collections.ConfigDict()
    c.eval.split = "val"  # split that eval.py tracks and scores
    c.eval.interval = 1  # track every k-th frame and score those frames (official EVAL_INTERVAL)
    c.eval.seqmap = (
        ""  # seqmap file; '' = <split>_seqmap.txt beside the split if present, else all folders
    )
    c.seed = 42  # global seed (official SEED)
    return c
