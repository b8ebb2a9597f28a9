"""Where the jitted frame step spends its time, per part of the model (XLA:CPU thunk times).

    python benchmarks/profile_frame.py --size 256 352 [--size 800 1440] [--frames 2]

Compiles the tracker's frame step for each size (random weights, as benchmarks/inference.py),
runs a few frames, then traces `--frames` more with `jax.profiler` and sums the duration of each
top-level XLA:CPU thunk (a loop counts once, with its body) by the model part named in the HLO
instruction's `op_name` metadata: backbone, input projections, the encoder's deformable
attention and the rest of its layers, the decoder's, the query updater, and the rest (the
tracker logic, heads, position embeddings). Prints one markdown table per size: milliseconds per
frame and share of the thunk total. With several threads the thunks of one frame overlap little
(XLA:CPU splits each thunk over the threads), so the shares are also shares of the frame.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import pathlib
import re
import sys
import tempfile

import jax

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import side_by_side  # noqa: E402
from benchmarks.inference import compile_size, load_config, machine, time_frames  # noqa: E402
from sambamotr_jax import api  # noqa: E402
from sambamotr_jax import model as model_lib  # noqa: E402
from sambamotr_jax.runtime import malloc_pad  # noqa: E402

# (part, test on the op_name), first match wins.
PARTS = (
    ("backbone", lambda op: "/backbone/" in op),
    ("input projections", lambda op: "input_proj" in op or "feature_projs" in op),
    ("encoder: deformable attention", lambda op: "/encoder/" in op and "self_attn" in op),
    ("encoder: FFN, norms", lambda op: "/encoder/" in op),
    ("decoder: deformable attention", lambda op: "/decoder/" in op and "cross_attn" in op),
    ("decoder: self-attention, FFN, norms", lambda op: "/decoder/" in op),
    ("query updater", lambda op: "query_updater" in op),
    ("other (tracker logic, heads, embeddings)", lambda op: True),
)


def entry_op_names(hlo_text: str) -> dict[str, str]:
    """Instruction name -> op_name metadata, for the entry computation's instructions."""
    entry = hlo_text[hlo_text.index("\nENTRY") :]
    entry = entry[: entry.index("\n}\n")]
    names = {m.group(1): "" for m in re.finditer(r"%([\w.\-]+) = ", entry)}
    for m in re.finditer(r"%([\w.\-]+) = .*?metadata=\{op_name=\"([^\"]*)\"", entry):
        names[m.group(1)] = m.group(2)
    return names


def thunk_ms_per_part(trace_dir: str, op_names: dict[str, str], frames: int) -> dict[str, float]:
    path = sorted(glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True))[-1]
    with gzip.open(path) as f:
        events = json.load(f)["traceEvents"]
    totals = collections.defaultdict(float)
    for e in events:
        if e.get("ph") == "X" and e.get("name") in op_names:
            op = op_names[e["name"]]
            part = next(name for name, test in PARTS if test(op))
            totals[part] += e["dur"] / 1e3 / frames
    return totals


def profile_size(tracker, height: int, width: int, frames: int) -> dict[str, float]:
    compiled, inputs, _ = compile_size(tracker, height, width)
    time_frames(tracker, compiled, inputs, frames=1, warmup=3)
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
        time_frames(tracker, compiled, inputs, frames=frames, warmup=0)
        jax.profiler.stop_trace()
        return thunk_ms_per_part(trace_dir, entry_op_names(compiled.as_text()), frames)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "dancetrack.py"))
    p.add_argument("--size", nargs=2, type=int, action="append", metavar=("H", "W"))
    p.add_argument("--frames", type=int, default=2)
    args = p.parse_args()
    malloc_pad.configure()  # may restart this script with glibc tunables, as the CLIs do
    before = side_by_side.load_report()
    config = load_config(args.config)
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    tracker = api.Tracker(config, variables)
    print(f"# {machine()}; jax {jax.__version__}; track capacity {tracker.capacity}")
    for h, w in args.size or [[256, 352], [800, 1440]]:
        parts = profile_size(tracker, h, w, args.frames)
        total = sum(parts.values())
        print(f"\n{h}x{w}: {total:.0f} ms of thunks per frame\n")
        print("| part | ms per frame | share |")
        print("|---|---|---|")
        for name, _ in PARTS:
            ms = parts.get(name, 0.0)
            print(f"| {name} | {ms:.1f} | {100 * ms / total:.1f}% |")
    state = side_by_side.machine_state(before, side_by_side.load_report())
    print(f"\n# load before {state['before']}, after {state['after']}, busy: {state['busy']}")


if __name__ == "__main__":
    main()
