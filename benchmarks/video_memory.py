"""Peak memory of `demo` and `track` on a long video: flat in the number of frames.

    python benchmarks/video_memory.py [--frames 1000] [--size 256 352] [--check 100]

Writes a synthetic video (moving boxes, H.264 .mp4) and a random-init checkpoint of
configs/tiny.py into a temporary folder, then runs `python -m sambamotr_jax.demo` and
`python -m sambamotr_jax.track` on the first `--check` frames and on all `--frames`, each in a
fresh process, and prints each run's peak RSS (`os.wait4` rusage of the child) and wall time as
one JSON object. Flat memory: the two peaks of a command differ by a few MB at most.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from configs import tiny
from sambamotr_jax import model as model_lib
from sambamotr_jax.formats import video_file
from sambamotr_jax.weights import converted_checkpoint


def write_video(path: pathlib.Path, num_frames: int, height: int, width: int) -> None:
    """Gray frames with three coloured boxes moving across."""
    with video_file.VideoWriter(path, fps=25) as writer:
        for t in range(num_frames):
            frame = np.full((height, width, 3), 90, np.uint8)
            for k, color in enumerate([(230, 60, 60), (60, 200, 60), (60, 80, 230)]):
                x = (7 * t + 97 * k) % (width - 40)
                y = 30 + 60 * k
                frame[y : y + 50, x : x + 30] = color
            writer.write(frame)


def run_child(args: list[str], log_dir: pathlib.Path) -> dict:
    """Runs `python args...` in a fresh process: its peak RSS (MB, `os.wait4` rusage of that
    child alone), wall seconds and the last line it printed."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out, err = log_dir / "stdout.txt", log_dir / "stderr.txt"
    t0 = time.perf_counter()
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=stdout,
                                stderr=stderr)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed:\n{err.read_text()[-3000:]}")
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "wall_s": round(time.perf_counter() - t0, 1),
        "said": out.read_text().strip().splitlines()[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--check", type=int, default=100)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 352), metavar=("H", "W"))
    args = parser.parse_args()
    results = {"frames": args.frames, "size": list(args.size), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        video = tmp / "long.mp4"
        write_video(video, args.frames, *args.size)
        config = tiny.get_config()
        model = model_lib.build_model(config.model)
        variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
        converted_checkpoint.save_variables(tmp / "ckpt", variables, config.model.to_dict())
        common = [f"--input={video}", f"--checkpoint={tmp / 'ckpt'}", "--config=configs/tiny.py"]
        for command, output in [("demo", tmp / "out.mp4"), ("track", tmp / "out.txt")]:
            for n in (args.check, args.frames):
                run = {"command": command, "max_frames": n}
                run.update(
                    run_child(
                        [
                            "-m",
                            f"sambamotr_jax.{command}",
                            *common,
                            f"--output={output}",
                            f"--max_frames={n}",
                        ],  # fmt: skip
                        tmp,
                    )
                )
                results["runs"].append(run)
                print(json.dumps(run), file=sys.stderr)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
