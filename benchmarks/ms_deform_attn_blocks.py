"""Sweep the Pallas kernel's tiling (block_q, num_warps, num_stages) on a GPU.

Times forward and forward+backward at the DanceTrack encoder and decoder shapes of
benchmarks/ms_deform_attn.py for each tiling and prints one JSON object (ms, median).

    python benchmarks/ms_deform_attn_blocks.py [--case encoder,decoder] [--repeats 20]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ms_deform_attn import LEVELS, _jax_sync, _time, make_inputs  # noqa: E402
from kernels.ms_deform_attn import BlockSizes, ms_deform_attn_pallas  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="encoder,decoder")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--block-q", default="8,16,32,64")
    p.add_argument("--num-warps", default="2,4,8")
    p.add_argument("--num-stages", default="1,2")
    p.add_argument("--value-grad", default="atomic,scatter")
    args = p.parse_args()
    interpret = jax.default_backend() != "gpu"
    result = {"device": jax.devices()[0].device_kind, "jax": jax.__version__, "cases": {}}
    for case in args.case.split(","):
        v, x, a = make_inputs(case, LEVELS, 64, jnp.float32)
        rows = []
        grid = [
            [int(v) for v in s.split(",")] for s in (args.block_q, args.num_warps, args.num_stages)
        ]
        for bq, nw, ns, vg in itertools.product(*grid, args.value_grad.split(",")):
            blocks = BlockSizes(block_q=bq, num_warps=nw, num_stages=ns, value_grad=vg)

            def op(v, x, a, blocks=blocks):
                return ms_deform_attn_pallas(v, LEVELS, x, a, blocks, interpret)

            fwd = jax.jit(op)
            fwd_bwd = jax.jit(
                jax.value_and_grad(lambda v, x, a: jnp.sum(op(v, x, a) ** 2), argnums=(0, 1, 2))
            )
            try:
                f_ms, _ = _time(fwd, (v, x, a), args.repeats, _jax_sync)
                fb_ms, _ = _time(fwd_bwd, (v, x, a), args.repeats, _jax_sync)
            except Exception as e:  # a tiling the compiler rejects (too many registers, ...)
                rows.append(
                    {"block_q": bq, "num_warps": nw, "num_stages": ns, "error": str(e)[:200]}
                )
                continue
            rows.append(
                {
                    "block_q": bq,
                    "num_warps": nw,
                    "num_stages": ns,
                    "fwd_ms": round(f_ms, 4),
                    "fwd_bwd_ms": round(fb_ms, 4),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        result["cases"][case] = rows
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
