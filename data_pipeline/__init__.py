"""Data pipeline for SambaMOTR/MeMOTR training and evaluation (knows nothing of the model).

Imports only `sambamotr_jax.formats` (and `sambamotr_jax.runtime.cli` in its command-line
entry points); never the model, tracking, training, evaluation or configs.

Training:   build_train_iterator / build_train_loader (pipeline.py), configured by
            SamplerConfig (sampling.py), AugmentConfig and PadConfig (transforms.py).
Records:    load_split (builders.py): tfds builders writing ArrayRecord, one record per frame.
Inference:  list_sequences / read_sequence (dataset_layouts.py) read frames, seqinfo and gt
            from the official layouts through the readers of `sambamotr_jax.formats`, the only
            project package data may import (with `sambamotr_jax.runtime.cli` for its CLIs).
Synthetic:  python -m data_pipeline.synthetic_mot --out DIR (synthetic_mot.py).
See docs/data.md.
"""

from data_pipeline.builders import SplitRecords, load_split
from data_pipeline.dataset_layouts import (
    FrameAnnotations,
    Sequence,
    list_sequences,
    read_sequence,
)
from data_pipeline.grain_loader import build_train_iterator, build_train_loader
from data_pipeline.sampling import SamplerConfig
from data_pipeline.transforms import DEFAULT_BUCKETS, AugmentConfig, PadConfig

__all__ = [
    "DEFAULT_BUCKETS",
    "AugmentConfig",
    "FrameAnnotations",
    "PadConfig",
    "SamplerConfig",
    "Sequence",
    "SplitRecords",
    "build_train_iterator",
    "build_train_loader",
    "list_sequences",
    "load_split",
    "read_sequence",
]
