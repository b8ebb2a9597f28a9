"""Prepare a dataset's ArrayRecord files once, before training.

python -m data_pipeline.prepare --dataset dancetrack --root DIR [--prepared-dir DIR]

Records whose annotation files changed since they were built are rebuilt (one log line says
which file); `load_split` refuses them and points here.
"""

from __future__ import annotations

from data_pipeline import dataset_layouts
from data_pipeline.builders import BUILDERS, prepare
from sambamotr_jax.runtime import cli


def main(argv=None) -> None:
    """python -m data_pipeline.prepare --dataset NAME --root DIR [--prepared-dir DIR]"""
    import argparse

    p = argparse.ArgumentParser(description="Prepare a dataset's ArrayRecord files once.")
    p.add_argument("--dataset", required=True, help=", ".join(sorted(BUILDERS)))
    p.add_argument("--root", required=True, help="folder holding the dataset folder")
    p.add_argument("--prepared-dir", default=None, help="default: ROOT/tfds_prepared")
    a = p.parse_args(argv)
    key = dataset_layouts.canonical_name(a.dataset)
    builder = prepare(key, a.root, prepared_dir=a.prepared_dir)
    for split, info in builder.info.splits.items():
        print(f"{key} {split}: {info.num_examples} frames in {builder.data_dir}")


if __name__ == "__main__":
    cli.run(lambda argv: main(argv[1:]), prog="python -m data_pipeline.prepare")
