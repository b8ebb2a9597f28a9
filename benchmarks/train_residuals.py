"""What one training frame keeps for its backward pass: saved residuals grouped by source line.

Traces (no compile, CPU is fine) the gradient of one frame of `train_step._frame` at a given
image size and prints the residual bytes per source line, largest first. Inside the clip
`lax.scan` every per-frame residual is stacked over the frames, so the step's memory without
remat is about frames x this total. At 800x1440 it prints 5.1 GB; the zero broadcasts of the
ReLU derivatives (~0.7 GB) do not depend on the frame and the scan keeps them once, which
leaves ~4.7 GB per frame: XLA's buffer assignment on an H100 was 48.3 GB for 10 frames.

    python benchmarks/train_residuals.py --size 800 1440 [--config configs/dancetrack.py] [--top 30]
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax._src.ad_checkpoint import saved_residuals

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.train_step import (  # noqa: E402
    add_recompute_flags,
    apply_recompute_flags,
    load_config,
    synthetic_batch,
)
from sambamotr_jax import model as model_lib  # noqa: E402
from sambamotr_jax.training import clip_step as TS  # noqa: E402
from sambamotr_jax.training import criterion as C  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "dancetrack.py"))
    p.add_argument("--size", nargs=2, type=int, default=(800, 1440), metavar=("H", "W"))
    p.add_argument("--capacity", type=int, default=64)
    p.add_argument("--top", type=int, default=30)
    add_recompute_flags(p)
    args = p.parse_args()

    config = load_config(args.config)
    apply_recompute_flags(config, args)
    model = model_lib.build_model(config.model)
    shapes = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    params = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes["params"])
    buffers = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), shapes["buffers"])
    m = config.model
    cfg = TS.ClipStepConfig(
        track_capacity=args.capacity,
        criterion=C.CriterionConfig(
            num_classes=m.num_classes,
            num_det_queries=m.num_det_queries,
            aux_loss_weights=(1.0,) * (m.dec_layers - 1),
            update_threshold=m.update_thresh,
        ),
    )
    batch = synthetic_batch(1, 1, *args.size)
    frame = {k: jnp.asarray(batch[k])[:, 0] for k in TS.FRAME_KEYS}  # (B, ...) of frame 0
    tracks = TS.empty_tracks(model, 1, args.capacity, jnp.float32)

    def frame_loss(params):
        params = TS._stop_frozen(params)
        new, record = TS._frame(
            model,
            params,
            buffers,
            tracks,
            frame,
            encoded=None,
            key=jax.random.key(1),
            cfg=cfg,
            deterministic=True,
        )
        # The next frame's loss reads this frame's query update (track queries, references and
        # updater state): their sum stands in for it, so the updater's residuals are counted.
        carried = (new.query_embed, new.ref_pts, *jax.tree.leaves(new.updater))
        carried = [x for x in carried if jnp.issubdtype(x.dtype, jnp.floating)]
        return sum(jnp.sum(v) for v in (*jax.tree.leaves(record.losses), *carried))

    by_line, count, total = collections.Counter(), collections.Counter(), 0
    for aval, source in saved_residuals(frame_loss, params):
        if not hasattr(aval, "shape") or source.startswith("from the argument"):
            continue  # parameters are not per-frame memory
        nbytes = int(np.prod(aval.shape)) * aval.dtype.itemsize
        where = re.sub(r"\s+", " ", source)[:140]
        key = f"{where} {tuple(aval.shape)}"
        by_line[key] += nbytes
        count[key] += 1
        total += nbytes
    print(f"per-frame residuals at {args.size[0]}x{args.size[1]}: {total / 1e9:.2f} GB")
    for key, nbytes in by_line.most_common(args.top):
        print(f"{nbytes / 1e9:7.3f} GB  x{count[key]:<3d} {key}")


if __name__ == "__main__":
    main()
