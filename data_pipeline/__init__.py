"""Data pipeline for SambaMOTR/MeMOTR training and evaluation (knows nothing of the model).

Imports only `sambamotr_jax.formats` (and `sambamotr_jax.runtime.cli` in its command-line
entry points); never the model, tracking, training, evaluation or configs.

Training:   build_train_iterator / build_train_loader (pipeline.py), configured by
            SamplerConfig (sampling.py), AugmentConfig and PadConfig (transforms.py).
Records:    load_split (builders.py): tfds builders writing ArrayRecord, one record per frame.
Inference:  list_sequences / read_sequence (mot_files.py) read frames, seqinfo and gt from the
            official layouts; transforms.inference_resize is the official test-time resize.
Synthetic:  python -m data_pipeline.synthetic_mot --out DIR (synthetic.py).
See docs/data.md.
"""

from data_pipeline.builders import SplitRecords, load_split
from data_pipeline.dataset_layouts import (
    DataFormatError,
    FrameAnnotations,
    SeqInfo,
    Sequence,
    list_sequences,
    read_sequence,
)
from data_pipeline.grain_loader import build_train_iterator, build_train_loader, decode_image
from data_pipeline.sampling import SamplerConfig
from data_pipeline.transforms import DEFAULT_BUCKETS, AugmentConfig, PadConfig, inference_resize

__all__ = [
    "DEFAULT_BUCKETS",
    "AugmentConfig",
    "DataFormatError",
    "FrameAnnotations",
    "PadConfig",
    "SamplerConfig",
    "SeqInfo",
    "Sequence",
    "SplitRecords",
    "build_train_iterator",
    "build_train_loader",
    "decode_image",
    "inference_resize",
    "list_sequences",
    "load_split",
    "read_sequence",
]
