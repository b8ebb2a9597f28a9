"""Samba alone: gradient precision of the official PyTorch Samba and ours, float32 vs float64.

Two chained Samba frames with the def fixture's weights (frame 0 from a zero state, frame 1 from
its result), inputs drawn from the fixture's decoder outputs of frames 0 and 1, loss = <random cotangent, outputs of both frames>. Prints,
for every parameter gradient whose norm is off float64 by more than 1e-5 (relative), the error
of torch float32, ours float32 and ours float64 against torch float64 (relative error of the
norm, then max-abs error over the max-abs value). ``--capacity`` pads our track axis (torch
always runs the live tracks only); ``--no-jit`` differentiates ours op by op.

    python tools/samba_grad_precision.py --ref-dir /work/ref/samba --capacity 12
    python tools/samba_grad_precision.py --ref-dir /work/ref/samba --capacity 5

Needs torch and einops (the official module imports them) and the fixture in ../shared.
Measured (2 cores, jax 0.10.2), when the synchronization normalized its attention after the
product (``(exp(s - max) @ v) / sum``): capacity 5, or --no-jit, or XLA_FLAGS=
--xla_backend_optimization_level=0 gave ours float32 within 1e-5 of float64 like torch float32,
but capacity 12 jitted put layer 2's synchronization parameters 1e-5-3e-4 off (norm) and A_log
5e-4 (max-abs). With the official order (softmax weights, then weights @ v; `samba._attend`)
ours float32 is as close to float64 as torch float32 (every flagged error <= 4e-5 for both).

The official float64 is not quite float64: its ``A_log.float()`` casts back to float32.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import sys
import types

import numpy as np

os.environ["JAX_ENABLE_X64"] = "1"
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import traverse_util  # noqa: E402

from configs import dancetrack  # noqa: E402
from sambamotr_jax.updaters.samba import Samba, SambaConfig  # noqa: E402
from sambamotr_jax.weights import conversion, torch_state  # noqa: E402
from sambamotr_jax.weights.torch_names import official_name  # noqa: E402

PREFIX = "query_updater.sequence_model."
D_MODEL = 256


def _official_samba(ref_dir: pathlib.Path):
    """The official ``models/query_updaters/samba.py`` module, imported without models/__init__."""
    models = ref_dir / "models"
    for name, path in (("models", models), ("models.query_updaters", models / "query_updaters")):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(path)]
        sys.modules[name] = pkg

    def load(name: str, path: pathlib.Path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    load("models.ffn", models / "ffn.py")
    load("models.query_updaters.attention", models / "query_updaters" / "attention.py")
    return load("models.query_updaters.samba", models / "query_updaters" / "samba.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref-dir", type=pathlib.Path, required=True, help="official checkout")
    parser.add_argument("--capacity", type=int, default=12)
    parser.add_argument("--tracks", type=int, default=5)
    parser.add_argument("--no-jit", action="store_true")
    args = parser.parse_args()
    import torch

    osamba = _official_samba(args.ref_dir)
    root = ROOT.parent / "shared" / "fixtures" / "official_def_detr"
    state = torch_state.load_torch_checkpoint(root / "weights.pth")
    variables, _, _ = conversion.convert_state(state, dancetrack.get_config())
    ours_params = variables["params"]["query_updater"]["sequence_model"]
    official_state = {
        k[len(PREFIX) :]: torch.from_numpy(v) for k, v in state.items() if k.startswith(PREFIX)
    }

    z = np.load(root / "train_clip.npz")
    t, cap = args.tracks, args.capacity
    rng = np.random.default_rng(0)
    shape = z["f0/next_tracks_hidden_state"][:t].shape  # (T, layers, d_inner, d_state)
    conv_shape = z["f0/next_tracks_conv_history"][:t].shape  # (T, layers, d_conv, d_inner)
    # Frame 1's inputs are drawn first (about half of its tracks masked to zero, as non-positive
    # tracks are), then frame 0's, then the cotangents of frame 0's and frame 1's outputs.
    draws = {}
    for f in (1, 0):
        outs = z[f"f{f}/outputs"].reshape(-1, D_MODEL)  # (queries, C)
        query, pos = (outs[rng.choice(len(outs), t, replace=False)] for _ in range(2))
        if f == 1:
            masked = rng.random(t) < 0.5
            query[masked] = 0.0
            pos[masked] = 0.0
        draws[f] = (query.astype(np.float64), pos.astype(np.float64))
    frames = [draws[0], draws[1]]
    cotangents = [rng.standard_normal((t, D_MODEL)) for _ in frames]

    layer_cfg = dict(
        d_model=D_MODEL, d_state=16, expand=2, dt_rank="auto", d_conv=4, conv_bias=True,
        bias=False, with_self_attn=True, with_self_attn_prior=False, num_attn_layers=1,
        self_attn_cfg=dict(embed_dims=D_MODEL, num_heads=4, dropout=0.0),
        ffn_cfg=dict(embed_dims=D_MODEL, feedforward_channels=128, ffn_drop=0.0),
        with_conv=True, inner_layernorms=False, with_input_layernorm=True,
    )  # fmt: skip

    def torch_grads(dtype) -> dict:
        m = osamba.Samba(num_layers=4, d_model=D_MODEL, layer_cfg=layer_cfg)
        m.load_state_dict(official_state)
        m = m.to(dtype)
        h = torch.zeros((1, *shape), dtype=dtype)
        c = torch.zeros((1, *conv_shape), dtype=dtype)
        loss = 0.0
        for (query, pos), cot in zip(frames, cotangents, strict=True):
            tt = lambda a: torch.tensor(a, dtype=dtype)[None]  # noqa: E731
            out, h, c = m(tt(query), h, c, tt(pos), 1)
            loss = loss + (out * tt(cot)).sum()
        loss.backward()
        return {n: p.grad.double().numpy() for n, p in m.named_parameters() if p.grad is not None}

    def ours_grads(dtype) -> dict:
        model = Samba(SambaConfig(num_layers=4, d_model=D_MODEL, num_heads=4, ffn_dim=128))
        params = jax.tree.map(lambda x: jnp.asarray(x, dtype), ours_params)

        def pad(a):  # (T, ...) -> (K, ...), zeros after the live tracks
            return jnp.asarray(np.concatenate([a, np.zeros((cap - t, *a.shape[1:]))]), dtype)

        def loss_fn(p):
            h = jnp.zeros((cap, *shape[1:]), dtype)
            c = jnp.zeros((cap, *conv_shape[1:]), dtype)
            loss = 0.0
            for (query, pos), cot in zip(frames, cotangents, strict=True):
                out, h, c = model.apply({"params": p}, pad(query), h, c, pad(pos), t)
                loss = loss + jnp.sum(out[:t] * jnp.asarray(cot, dtype))
            return loss

        grad = jax.grad(loss_fn) if args.no_jit else jax.jit(jax.grad(loss_fn))
        result = {}
        for path, g in traverse_util.flatten_dict(grad(params)).items():
            name = official_name(("query_updater", "sequence_model", *path))[len(PREFIX) :]
            result[name] = np.asarray(g, np.float64)
        return result

    ours32, ours64 = ours_grads(jnp.float32), ours_grads(jnp.float64)
    torch32, torch64 = torch_grads(torch.float32), torch_grads(torch.float64)
    print(f"capacity {cap}, {t} live tracks, jit {not args.no_jit}")
    print(f"{'parameter':56s} {'torch32':>8s} {'ours32':>8s} {'ours64':>8s} | max-abs: same")
    for name, ref in torch64.items():
        ref_norm, ref_max = np.linalg.norm(ref), np.abs(ref).max()
        grads = [torch32[name], ours32[name], ours64[name]]
        norm_err = [abs(np.linalg.norm(g) / ref_norm - 1) for g in grads]
        # Our kernels are transposed/reshaped: compare max-abs errors on sorted values.
        max_err = [np.abs(np.sort(g, None) - np.sort(ref, None)).max() / ref_max for g in grads]
        if max(norm_err[:2]) > 1e-5:
            print(f"{name:56s} " + " ".join(f"{e:8.1e}" for e in norm_err + max_err))


if __name__ == "__main__":
    main()
