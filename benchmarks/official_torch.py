"""Time the official PyTorch SambaMOTR on a CUDA GPU, to compare with ours in one session.

Runs the unmodified official code (a checkout of mattiasegu/sambamotr, commit f1c139a, in
--ref-dir) with its compiled deformable-attention extension (`MultiScaleDeformableAttention`,
built from the checkout's models/ops and importable), seeded random weights (timings do not
depend on values), and prints one JSON object:

  * forward_s: the model forward on one frame with no track queries (torch.no_grad), per --size;
  * train: one training clip of --frames frames at --train-size exactly as the official
    `train_one_epoch` runs it (model forward per frame, `ClipCriterion.process_single_frame`,
    `postprocess_single_frame`, the mean loss over ground truths, backward, gradient clipping 0.1,
    AdamW step with the official parameter groups), seconds per clip and peak CUDA memory. The
    ground truth is synthetic (8 objects drifting), the same as benchmarks/train_step.py's.
  * msda_encoder_s: the compiled CUDA op at the encoder shape of each --size, forward and
    forward+backward (benchmarks/ms_deform_attn.py --with-cuda-reference times it on the same
    shapes as our kernel).

The only run-time substitution is that torchvision's resnet50 is built without downloading
ImageNet weights (weights=None). CUDA times are wall times after torch.cuda.synchronize().

    python benchmarks/official_torch.py --ref-dir SAMBA_DIR --size 800 1440 --train-size 800 1440
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time


def _median_time(fn, repeats: int, sync) -> float:
    fn()
    sync()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def level_shapes(h: int, w: int) -> list[tuple[int, int]]:
    """C3..C5 at strides 8/16/32 (ceil) and the extra stride-2 level."""
    shapes = [(math.ceil(h / s), math.ceil(w / s)) for s in (8, 16, 32)]
    shapes.append((math.ceil(shapes[-1][0] / 2), math.ceil(shapes[-1][1] / 2)))
    return shapes


def synthetic_infos(torch, frames: int, objects: int = 8, seed: int = 0):
    """Per-frame official `infos` dicts: normalized cxcywh boxes, labels 0, ids 0..objects-1."""
    g = torch.Generator().manual_seed(seed)
    start = 0.2 + 0.5 * torch.rand((objects, 2), generator=g)
    size = 0.05 + 0.15 * torch.rand((objects, 2), generator=g)
    infos = []
    for t in range(frames):
        boxes = torch.cat([start + 0.01 * t, size], -1)  # (objects, 4)
        infos.append(
            {
                "boxes": boxes,
                "labels": torch.zeros(objects, dtype=torch.long),
                "ids": torch.arange(objects, dtype=torch.long),
            }
        )
    return infos


def param_groups(cfg: dict, model) -> list[dict]:
    """The official four AdamW groups (train_engine.get_param_groups): backbone, sampling
    offsets + reference points, query updater, the rest; frozen parameters left out."""
    keys = {
        "backbone": ("backbone.backbone",),
        "points": ("reference_points", "sampling_offsets"),
        "updater": ("query_updater",),
    }
    groups = {"backbone": [], "points": [], "updater": [], "rest": []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        kind = next((k for k, words in keys.items() if any(w in name for w in words)), "rest")
        groups[kind].append(param)
    lrs = {"backbone": cfg["LR_BACKBONE"], "points": cfg["LR_POINTS"]}
    return [{"params": v, "lr": lrs.get(k, cfg["LR"])} for k, v in groups.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref-dir", required=True, help="checkout of the official SambaMOTR code")
    p.add_argument(
        "--config",
        default="configs/sambamotr/dancetrack/def_detr/train_residual_masking_sync_longer.yaml",
        help="official yaml, relative to --ref-dir",
    )
    p.add_argument("--size", nargs=2, type=int, action="append", metavar=("H", "W"))
    p.add_argument("--train-size", nargs=2, type=int, default=None, metavar=("H", "W"))
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument(
        "--cpu-shims",
        default=None,
        help="CPU smoke test only: folder of shared/tools/official_cpu_timing (its official_env)",
    )
    p.add_argument("--use-checkpoint", action="store_true", help="official USE_CHECKPOINT")
    args = p.parse_args()

    sys.path.insert(0, args.ref_dir)
    if args.cpu_shims:
        import os

        os.environ["SAMBA_REF_DIR"] = args.ref_dir
        sys.path.insert(0, args.cpu_shims)
        import official_env

        official_env.setup(num_threads=2, family="samba")
    import models.backbone as official_backbone
    import torch
    from models import build_model
    from models.criterion import build as build_criterion
    from structures.track_instances import TrackInstances
    from utils.nested_tensor import tensor_list_to_nested_tensor
    from utils.utils import set_seed, yaml_to_dict

    resnet50 = official_backbone.resnet50
    official_backbone.resnet50 = lambda weights=None, **kw: resnet50(weights=None, **kw)

    on_gpu = not args.cpu_shims
    device = torch.device("cuda" if on_gpu else "cpu")
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    cfg = yaml_to_dict(f"{args.ref_dir}/{args.config}")
    cfg.update(DEVICE=device.type, USE_CHECKPOINT=args.use_checkpoint, VISUALIZE=False)
    set_seed(0)
    model = build_model(config=cfg)
    qu = model.query_updater
    track_kw = dict(
        hidden_dim=model.hidden_dim,
        num_classes=model.num_classes,
        state_dim=getattr(qu, "state_dim", 0),
        expand=getattr(qu, "expand", 0),
        num_layers=getattr(qu, "num_layers", 0),
        conv_dim=getattr(qu, "conv_dim", 0),
    )
    use_dab = bool(cfg.get("USE_DAB", False))
    out = {
        "config": args.config,
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name() if on_gpu else None,
        "repeats": args.repeats,
        "forward_s": {},
        "msda_encoder_s": {},
    }
    g = torch.Generator().manual_seed(0)

    model.eval()
    for h, w in args.size or []:
        frame = tensor_list_to_nested_tensor([torch.randn((3, h, w), generator=g)]).to(device)
        batch = {"imgs": [[frame.tensors[0]]]}

        @torch.no_grad()
        def fwd(frame=frame, batch=batch):
            tracks = TrackInstances.init_tracks(
                batch=batch, device=device, use_dab=use_dab, **track_kw
            )
            model(frame=frame, tracks=tracks)

        out["forward_s"][f"{h}x{w}"] = round(_median_time(fwd, args.repeats, sync), 5)
        if not on_gpu:
            continue

        from models.ops.functions.ms_deform_attn_func import MSDeformAttnFunction

        shapes = level_shapes(h, w)
        s = sum(a * b for a, b in shapes)
        value = torch.randn((1, s, 8, 32), device=device, requires_grad=True)
        loc = torch.rand((1, s, 8, 4, 4, 2), device=device, requires_grad=True)
        attn = torch.rand((1, s, 8, 4, 4), device=device)
        attn = (attn / attn.sum((-1, -2), keepdim=True)).requires_grad_(True)
        ss = torch.tensor(shapes, dtype=torch.long, device=device)
        start = torch.cat((ss.new_zeros((1,)), ss.prod(1).cumsum(0)[:-1]))

        op_args = (value, ss, start, loc, attn, 64)

        def op_fwd(op_args=op_args):
            with torch.no_grad():
                MSDeformAttnFunction.apply(*op_args)

        def op_fwd_bwd(op_args=op_args):
            out = MSDeformAttnFunction.apply(*op_args)
            out.backward(torch.ones_like(out))  # the op wants a contiguous gradient

        out["msda_encoder_s"][f"{h}x{w}"] = {
            "tokens": s,
            "fwd": round(_median_time(op_fwd, args.repeats, sync), 6),
            "fwd_bwd": round(_median_time(op_fwd_bwd, args.repeats, sync), 6),
        }

    if args.train_size:
        h, w = args.train_size
        model.train()
        criterion = build_criterion(config=cfg)
        criterion.set_device(torch.cuda.current_device() if on_gpu else device)
        optimizer = torch.optim.AdamW(
            param_groups(cfg, model), lr=cfg["LR"], weight_decay=cfg["WEIGHT_DECAY"]
        )
        imgs = [torch.randn((3, h, w), generator=g) for _ in range(args.frames)]
        batch = {
            "imgs": [imgs],
            "intervals": [1],
            "infos": [synthetic_infos(torch, args.frames)],
        }

        def clip_step():
            tracks = TrackInstances.init_tracks(
                batch=batch, device=device, use_dab=use_dab, **track_kw
            )
            criterion.init_a_clip(batch=batch, device=device, **track_kw)
            for t in range(args.frames):
                frame = tensor_list_to_nested_tensor([imgs[t]]).to(device)
                res = model(frame=frame, tracks=tracks)
                prev, new, unmatched = criterion.process_single_frame(
                    model_outputs=res, tracked_instances=tracks, frame_idx=t
                )
                if t < args.frames - 1:
                    tracks = model.postprocess_single_frame(
                        prev, new, unmatched, intervals=batch["intervals"]
                    )
            loss_dict, _ = criterion.get_mean_by_n_gts()
            loss = criterion.get_sum_loss_dict(loss_dict=loss_dict)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()
            optimizer.zero_grad()
            return float(loss.item())

        if on_gpu:
            torch.cuda.reset_peak_memory_stats()
        t_step = _median_time(clip_step, args.train_steps, sync)
        out["train"] = {
            "size": f"{h}x{w}",
            "frames": args.frames,
            "use_checkpoint": args.use_checkpoint,
            "clip_s": round(t_step, 4),
            "clips_per_s": round(1.0 / t_step, 3),
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3)
            if on_gpu
            else None,
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
