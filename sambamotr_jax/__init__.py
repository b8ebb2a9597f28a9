"""SambaMOTR and MeMOTR in JAX/Flax.

One folder per layer; each imports only the layers below it (import-linter contracts in
pyproject.toml, checked in CI):

    convert.py track.py demo.py   command-line entry points (`python -m sambamotr_jax.X`,
    train_cli.py eval_cli.py      `sambamotr-X`; train.py / eval.py at the repository root)
    api.py                        the public Python API (Tracker, FrameTracks, SupervisionTracker)
    training/                     matcher, criterion, optimizer, clip step, training loop
    evaluation/  tracking/        scoring result files  |  the tracker over frames and sequences
    weights/                      official PyTorch checkpoints, conversion, converted checkpoints
    model.py                      the composition: config -> detector + query updater
    detector/  updaters/          Deformable-DETR / DAB detector  |  Samba and MeMOTR updaters
    nn/                           shared neural-network building blocks
    runtime/                      process and device set-up, the CLIs' one way to fail
    formats/                      file formats and the one error type (InputError)

`kernels/` (custom ops, no project imports) and `data_pipeline/` (training input; imports only
`formats` and `runtime.cli`) sit beside this package; `configs/` holds experiment files that no
library imports.
"""
