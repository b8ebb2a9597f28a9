r"""Training step time: one process of 8 CPU devices vs two processes of 4 (gloo over 127.0.0.1).

Both run train.py on the tiny config with the same global batch (8 clips, one per device) over
a synthetic set of 4 sequences x 30 frames of 96x64, log every step and save only at the end;
the time of a step is train.py's `step_time_s` (wall time between two logged steps: input,
step, metrics fetch), its median over the steps after the first `--warmup` (compilation).

  python benchmarks/multiprocess_train.py --out=/tmp/mp_bench [--steps=12] [--warmup=3]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sambamotr_jax.runtime import distributed  # noqa: E402


def _train(workdir, data, steps, devices, extra=()):
    return [
        sys.executable,
        "train.py",
        "--config=configs/tiny.py",
        f"--workdir={workdir}",
        f"--config.data.root={data}",
        f"--config.train.max_steps={steps}",
        "--config.train.checkpoint_every=100000",
        "--config.eval.every_epochs=0",
        *extra,
    ], dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
    )


def _median_step(workdir, warmup) -> tuple[float, int]:
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    times = [r["step_time_s"] for r in rows if r["step"] > warmup]
    return statistics.median(times), len(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    data = args.out / "data"
    if not data.exists():
        subprocess.run(
            [sys.executable, "-m", "data_pipeline.synthetic_mot", f"--out={data}", "--width=96"]
            + ["--height=64", "--num-frames=30", "--train-seqs=4", "--val-seqs=1"],
            cwd=REPO,
            check=True,
            timeout=600,
        )
    one = args.out / "one_process"
    cmd, env = _train(one, data, args.steps, 8)
    subprocess.run(cmd, cwd=REPO, env=env, check=True, timeout=3600)
    two = args.out / "two_processes"
    port = distributed.free_loopback_port()
    procs = []
    try:
        for i in range(2):
            flags = (f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2")
            cmd, env = _train(two, data, args.steps, 4, (*flags, f"--process_id={i}"))
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=env))
        codes = [p.wait(timeout=3600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    if codes != [0, 0]:
        sys.exit(f"two-process run failed: exit codes {codes}")
    for name, workdir in (("1 process x 8 devices", one), ("2 processes x 4 devices", two)):
        median, n = _median_step(workdir, args.warmup)
        print(f"{name}: median {median:.3f} s/step over {n} steps")


if __name__ == "__main__":
    main()
