"""Benchmark multi-scale deformable attention at DanceTrack sizes.

Cases (N=1, M=8 heads, D=32 channels per head, L=4 levels, P=4 points, 800x1440 frame, levels
at strides 8/16/32/64: 100x180, 50x90, 25x45, 13x23):
  encoder: Q = S = 23924 tokens (every token queries the frame).
  decoder: Q = 300 detection queries + track capacity.

For each implementation and case: forward and forward+backward time in milliseconds and the
achieved bandwidth in GB/s of the op's compulsory traffic (inputs read once, outputs written
once) beside the measured copy bandwidth of this device. Also the gathered traffic: every
sample reads 4 neighbour rows of D channels, which is what a gather kernel really moves.

Examples:
  python benchmarks/ms_deform_attn.py                       # xla, both cases, CPU or GPU
  python benchmarks/ms_deform_attn.py --impl xla,pallas     # on GPU
  python benchmarks/ms_deform_attn.py --with-torch-reference --case encoder
  python benchmarks/ms_deform_attn.py --impl pallas --scale 0.1 --case decoder  # interpret on CPU

--with-torch-reference times a pure-PyTorch grid_sample formulation of the same op (CPU or
CUDA tensors); --with-cuda-reference times the official compiled CUDA op if its extension
(`MultiScaleDeformableAttention`) is importable.

Against the official pure-PyTorch op on the CPU, at the encoder call of an 800x1440 frame:

  python benchmarks/ms_deform_attn.py --official SAMBA_REF_DIR --official-python REFVENV/bin/python

times ours (xla path, forward and forward+backward) and then the official op
(../shared/tools/official_cpu_timing/time_official.py --size 800 1440) in alternating rounds
(`--rounds`, default 2), and prints each round's ratio and their median, marked when the machine
was busy (benchmarks/side_by_side.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import side_by_side  # noqa: E402
from kernels import ms_deform_attn  # noqa: E402
from kernels.ms_deform_attn import BlockSizes, ms_deform_attn_pallas, ms_deform_attn_xla_autodiff
from sambamotr_jax.runtime import malloc_pad  # noqa: E402

LEVELS = ((100, 180), (50, 90), (25, 45), (13, 23))
HEADS, CHANNELS, POINTS = 8, 32, 4


def _scaled_levels(scale: float) -> tuple[tuple[int, int], ...]:
    return tuple((max(1, round(h * scale)), max(1, round(w * scale))) for h, w in LEVELS)


def make_inputs(case: str, levels, track_capacity: int, dtype, seed: int = 0):
    """Random inputs: value (1, S, M, D), locations (1, Q, M, L, P, 2), weights (1, Q, M, L, P)."""
    s = sum(h * w for h, w in levels)
    q = s if case == "encoder" else 300 + track_capacity
    rng = np.random.default_rng(seed)
    nl = len(levels)
    value = rng.normal(size=(1, s, HEADS, CHANNELS)).astype(np.float32)
    loc = rng.uniform(0.0, 1.0, size=(1, q, HEADS, nl, POINTS, 2)).astype(np.float32)
    aw = rng.uniform(size=(1, q, HEADS, nl * POINTS)).astype(np.float32)
    aw = (aw / aw.sum(-1, keepdims=True)).reshape(1, q, HEADS, nl, POINTS)
    return tuple(jnp.asarray(a, dtype) for a in (value, loc, aw))


def _time(fn, args, repeats: int, sync) -> tuple[float, float]:
    """Median wall time and process CPU time in ms over `repeats` calls after a warm-up call.

    The CPU time (all threads of this process) is the steadier number on a shared machine.
    """
    sync(fn(*args))
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        sync(fn(*args))
        walls.append((time.perf_counter() - t0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    return statistics.median(walls), statistics.median(cpus)


def _jax_sync(x):
    jax.block_until_ready(x)


def copy_bandwidth_gbs(repeats: int) -> float:
    """Read + write GB/s of an elementwise pass over 256 MiB on the default JAX device."""
    x = jnp.ones((64 * 1024 * 1024,), jnp.float32)
    scale = jax.jit(lambda a: a * 1.0001)
    ms, _ = _time(scale, (x,), repeats, _jax_sync)
    return 2 * x.nbytes / (ms * 1e-3) / 1e9


def traffic_bytes(value, loc, aw, backward: bool) -> tuple[int, int]:
    """(compulsory bytes, gathered bytes) of one call."""
    n, q, m, nl, p, _ = loc.shape
    d = value.shape[-1]
    item = value.dtype.itemsize
    out = n * q * m * d * item
    inputs = value.nbytes + loc.nbytes + aw.nbytes
    gathered = n * q * m * nl * p * 4 * d * item
    if not backward:
        return inputs + out, gathered
    # backward reads the inputs and the output cotangent again and writes three gradients
    return 2 * (inputs + out) + out + inputs, 3 * gathered


def jax_fns(impl: str, levels):
    """impl: 'xla' or 'pallas' (the dispatcher), or a variant: 'xla_autodiff' (the xla forward
    with autodiff gradients), 'pallas_atomic' / 'pallas_scatter' (the kernel with that value
    gradient; interpret mode off GPU)."""
    interpret = jax.default_backend() != "gpu"

    def op(v, x, a):
        if impl == "xla_autodiff":
            return ms_deform_attn_xla_autodiff(v, levels, x, a)
        if impl.startswith("pallas_"):
            blocks = BlockSizes(value_grad=impl.removeprefix("pallas_"))
            return ms_deform_attn_pallas(v, levels, x, a, blocks, interpret)
        return ms_deform_attn(v, levels, x, a, implementation=impl)

    fwd = jax.jit(op)

    def loss(v, x, a):
        out = op(v, x, a)
        return jnp.sum(out.astype(jnp.float32) ** 2)

    fwd_bwd = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
    return fwd, fwd_bwd


def torch_fns(levels, device: str):
    """Pure-PyTorch reference: per level, one grid_sample over all heads and points."""
    import torch
    import torch.nn.functional as F

    def forward(value, loc, aw):
        n, s, m, d = value.shape
        _, q, _, nl, p, _ = loc.shape
        grid = 2.0 * loc - 1.0  # grid_sample wants [-1, 1]
        per_level = []
        start = 0
        for lvl, (h, w) in enumerate(levels):
            v = value[:, start : start + h * w]  # (N, H*W, M, D)
            start += h * w
            v = v.permute(0, 2, 3, 1).reshape(n * m, d, h, w)  # (N*M, D, H, W)
            g = grid[:, :, :, lvl].permute(0, 2, 1, 3, 4).reshape(n * m, q, p, 2)  # (N*M, Q, P, 2)
            per_level.append(
                F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
            )  # (N*M, D, Q, P)
        sampled = torch.stack(per_level, dim=-2).flatten(-2)  # (N*M, D, Q, L*P)
        weights = aw.permute(0, 2, 1, 3, 4).reshape(n * m, 1, q, nl * p)  # (N*M, 1, Q, L*P)
        out = (sampled * weights).sum(-1)  # (N*M, D, Q)
        return out.view(n, m * d, q).transpose(1, 2)  # (N, Q, M*D)

    def fwd_bwd(value, loc, aw):
        out = forward(value, loc, aw)
        loss = (out**2).sum()
        return torch.autograd.grad(loss, (value, loc, aw))

    def sync(_):
        if device == "cuda":
            torch.cuda.synchronize()

    def to_torch(a, grad: bool):
        t = torch.from_numpy(np.array(a, np.float32)).to(device)
        return t.requires_grad_(grad)

    def run_fwd(v, x, a):
        with torch.no_grad():
            return forward(v, x, a)

    return run_fwd, fwd_bwd, sync, to_torch


def cuda_op_fns(levels):
    """The official compiled op, if importable (GPU only)."""
    import MultiScaleDeformableAttention as MSDA  # noqa: N814
    import torch

    shapes = torch.as_tensor(levels, dtype=torch.long, device="cuda")
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])

    class _Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, value, loc, aw):
            ctx.save_for_backward(value, loc, aw)
            return MSDA.ms_deform_attn_forward(value, shapes, starts, loc, aw, 64)

        @staticmethod
        def backward(ctx, grad):
            value, loc, aw = ctx.saved_tensors
            return tuple(
                MSDA.ms_deform_attn_backward(value, shapes, starts, loc, aw, grad.contiguous(), 64)
            )

    def fwd(v, x, a):
        with torch.no_grad():
            return _Fn.apply(v, x, a)

    def fwd_bwd(v, x, a):
        out = _Fn.apply(v, x, a)
        return torch.autograd.grad((out**2).sum(), (v, x, a))

    return fwd, fwd_bwd


def machine_description() -> str:
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        try:
            lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
            model = next(
                ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln
            )
        except (OSError, StopIteration):
            model = platform.processor() or "unknown CPU"
        import os

        return f"CPU: {model}, {os.cpu_count()} cores"
    return f"{dev.platform.upper()}: {dev.device_kind}"


def compare_official(args) -> None:
    """Ours (xla) against the official pure-PyTorch op at the 800x1440 encoder call, alternating."""
    malloc_pad.configure()  # may restart this script with glibc tunables, as the CLIs do
    before = side_by_side.load_report()
    value, loc, aw = make_inputs("encoder", LEVELS, args.track_capacity, jnp.float32)
    fwd, fwd_bwd = jax_fns("xla", LEVELS)
    ours = {"fwd": [], "fwd_bwd": []}
    theirs = {"fwd": [], "fwd_bwd": []}
    for _ in range(args.rounds or 2):
        for mode, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
            ours[mode].append(_time(fn, (value, loc, aw), args.repeats, _jax_sync)[0] / 1e3)
        run = side_by_side.run_official(
            "time_official.py",
            ["--size", "800", "1440"],
            args.official_python,
            args.official,
            "SAMBA_REF_DIR",
        )["msda_encoder_s"]["800x1440"]
        for mode in theirs:
            theirs[mode].append(run[mode])
    state = side_by_side.machine_state(before, side_by_side.load_report())
    print(
        f"# {machine_description()}; jax {jax.__version__}; GLIBC_TUNABLES="
        f"{os.environ.get('GLIBC_TUNABLES')}"
    )
    print(f"# load before {state['before']}, after {state['after']}")
    print("| pass | ours s per round | official s per round | ratio per round | median ratio |")
    print("|---|---|---|---|---|")
    for mode in ours:
        ratios = [a / b for a, b in zip(ours[mode], theirs[mode])]
        print(
            f"| {mode} | {', '.join(f'{t:.3f}' for t in ours[mode])} "
            f"| {', '.join(f'{t:.3f}' for t in theirs[mode])} "
            f"| {', '.join(f'{r:.3f}' for r in ratios)} "
            f"| {side_by_side.marked(side_by_side.median(ratios), state['busy'])} |"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--impl",
        default="xla",
        help="comma list of xla, pallas, xla_autodiff, pallas_atomic, pallas_scatter",
    )
    parser.add_argument("--case", default="encoder,decoder", help="comma list of encoder,decoder")
    parser.add_argument("--mode", default="fwd,fwd_bwd", help="comma list of fwd,fwd_bwd")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--track-capacity", type=int, default=100)
    parser.add_argument("--scale", type=float, default=1.0, help="scale every level's H and W")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--with-torch-reference", action="store_true")
    parser.add_argument("--with-cuda-reference", action="store_true")
    parser.add_argument("--official", default=None, help="official SambaMOTR checkout (CPU)")
    parser.add_argument("--official-python", default=sys.executable)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    if args.official:
        compare_official(args)
        return

    levels = _scaled_levels(args.scale)
    dtype = jnp.dtype(args.dtype)
    modes = args.mode.split(",")
    copy_gbs = copy_bandwidth_gbs(args.repeats)
    print(f"# {machine_description()}; jax {jax.__version__} on {jax.default_backend()}")
    print(f"# levels {levels}, M={HEADS} D={CHANNELS} P={POINTS}, dtype {args.dtype}")
    print(f"# copy bandwidth {copy_gbs:.1f} GB/s (read + write)")
    print(
        "| case | Q | impl | pass | wall ms | CPU ms | GB/s compulsory | GB/s gathered | % of copy |"
    )
    print("|---|---|---|---|---|---|---|---|---|")

    for case in args.case.split(","):
        value, loc, aw = make_inputs(case, levels, args.track_capacity, dtype)
        q = loc.shape[1]
        runners = []
        for impl in args.impl.split(","):
            fwd, fwd_bwd = jax_fns(impl, levels)
            runners.append((impl, fwd, fwd_bwd, _jax_sync, (value, loc, aw)))
        if args.with_torch_reference or args.with_cuda_reference:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
            fwd, fwd_bwd, sync, to_torch = torch_fns(levels, device)
            targs = tuple(to_torch(a, True) for a in (value, loc, aw))
            if args.with_torch_reference:
                runners.append(("torch grid_sample", fwd, fwd_bwd, sync, targs))
            if args.with_cuda_reference and device == "cuda":
                cfwd, cfwd_bwd = cuda_op_fns(levels)
                runners.append(("official CUDA op", cfwd, cfwd_bwd, sync, targs))
        for name, fwd, fwd_bwd, sync, call_args in runners:
            for mode in modes:
                fn = fwd if mode == "fwd" else fwd_bwd
                ms, cpu_ms = _time(fn, call_args, args.repeats, sync)
                compulsory, gathered = traffic_bytes(value, loc, aw, mode == "fwd_bwd")
                gbs = compulsory / (ms * 1e-3) / 1e9
                gbs_g = gathered / (ms * 1e-3) / 1e9
                print(
                    f"| {case} | {q} | {name} | {mode} | {ms:.1f} | {cpu_ms:.0f} | {gbs:.2f} | {gbs_g:.2f} "
                    f"| {100 * gbs / copy_gbs:.1f}% |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
