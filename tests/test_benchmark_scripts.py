"""The benchmark scripts that reach into the library's private functions still run (they are not
timed here: this only catches a signature they no longer match)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_train_residuals_traces_one_frame_of_the_tiny_config():
    # Traces the gradient of train_step._frame (no compilation): a few seconds at 64x96.
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/train_residuals.py",
            "--config=configs/tiny.py",
            "--size",
            "64",
            "96",
            "--top",
            "3",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    total = re.search(r"per-frame residuals at 64x96: ([0-9.]+) GB", proc.stdout)
    assert total and float(total.group(1)) > 0, proc.stdout
    assert len(re.findall(r"^\s*[0-9.]+ GB\s+x\d+", proc.stdout, re.M)) == 3, proc.stdout
