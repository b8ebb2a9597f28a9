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


def test_side_by_side_reports_load_and_runs_the_official_tool(tmp_path):
    from benchmarks import side_by_side

    report = side_by_side.load_report()
    assert len(report["load_average"]) == 3 and report["busy_cores"] >= 0.0
    idle = {"load_average": [0.1, 0.1, 0.1], "busy_cores": 0.05}
    busy = {"load_average": [0.1, 0.1, 0.1], "busy_cores": 1.2}
    assert side_by_side.machine_state(idle, idle)["busy"] is False
    assert side_by_side.machine_state(idle, busy)["busy"] is True
    # A load average left by a job that has ended does not make the machine busy.
    assert side_by_side.machine_state({**idle, "load_average": [3.0, 1, 1]}, idle)["busy"] is False
    assert side_by_side.marked(0.4567, False) == "0.457"
    assert side_by_side.marked(0.4567, True) == "0.457 (busy machine)"
    assert side_by_side.median([3.0, 1.0, 2.0]) == 2.0 and side_by_side.median([1.0, 2.0]) == 1.5
    # A stand-in for the official environment's python: echoes its arguments and the checkout.
    fake = tmp_path / "python"
    fake.write_text(
        '#!/bin/sh\necho "log line"\n'
        'echo "{\\"args\\": \\"$*\\", \\"ref\\": \\"$SAMBA_REF_DIR\\"}"\n'
    )
    fake.chmod(0o755)
    out = side_by_side.run_official(
        "time_official.py", ["--size", "8", "8"], str(fake), "/ref", "SAMBA_REF_DIR"
    )
    assert out["args"].endswith("time_official.py --size 8 8") and out["ref"] == "/ref"
