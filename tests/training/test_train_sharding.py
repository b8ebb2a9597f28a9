"""Data parallelism: on 8 (fake CPU) devices with one clip each, a few steps give the parameters
of the single-device run with the same global batch of 8 clips."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[2]

# Runs in a subprocess: the device count is fixed when jax starts.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    import orbax.checkpoint as ocp
    from configs import tiny
    from sambamotr_jax.training import train_loop

    out = sys.argv[1]
    assert jax.device_count() == 8, jax.devices()

    def run(name, devices, per_device):
        config = tiny.get_config()
        config.data.root = f"{out}/data"
        config.mesh.data = devices
        config.train.batch_per_device = per_device
        config.train.max_steps = 2
        result = train_loop.train_and_evaluate(config, f"{out}/{name}")
        with ocp.StandardCheckpointer() as ckptr:
            state = ckptr.restore(f"{out}/{name}/checkpoints/2/state")
        return result, state

    result8, state8 = run("eight", -1, 1)
    result1, state1 = run("one", 1, 8)
    leaves8 = jax.tree_util.tree_leaves_with_path(state8["params"])
    leaves1 = dict(jax.tree_util.tree_leaves_with_path(state1["params"]))
    init = None
    diffs = {
        jax.tree_util.keystr(p): float(np.max(np.abs(np.asarray(a) - np.asarray(leaves1[p]))))
        for p, a in leaves8
    }
    print("RESULT " + json.dumps({
        "step": [int(state8["step"]), int(state1["step"])],
        "loss": [result8["loss"], result1["loss"]],
        "max_diff": max(diffs.values()),
        "worst": max(diffs, key=diffs.get),
        "num_params": len(diffs),
    }))
    """
)


def test_eight_devices_equal_one_device(tmp_path):
    # os.environ carries the session's persistent compilation cache (conftest.py).
    env = dict(
        os.environ,
        # Keeps the suite's other XLA flags (conftest.py).
        XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8",
        JAX_PLATFORMS="cpu",
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    result = json.loads(line.removeprefix("RESULT "))
    print(result)
    assert result["step"] == [2, 2]
    assert abs(result["loss"][0] - result["loss"][1]) <= 1e-4 * abs(result["loss"][1])
    assert result["num_params"] > 50
    # Two AdamW steps at lr 2e-4 move a parameter by up to ~4e-4; the runs agree far below that.
    assert result["max_diff"] < 1e-6, result
