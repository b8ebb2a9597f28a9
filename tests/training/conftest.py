"""The training run that two test modules compare against: train.py in one process of 8 CPU
devices, one clip per device (4 steps, a checkpoint after each).

test_multiprocess_training.py checks that two processes of 4 devices train as this run does;
test_train_sharding.py that one device with the global batch of 8 clips does. The run is made
once per session: under pytest-xdist by the first worker that asks (the others wait on a file
lock and read its workdir); conftest.py schedules both modules on one worker.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import orbax.checkpoint as ocp
import pytest

from data_pipeline import synthetic_mot

REPO = pathlib.Path(__file__).resolve().parents[2]
MAX_STEPS = 4
TIMEOUT_S = 900  # any one train.py run


def train_command(workdir, data, *extra, max_steps: int = MAX_STEPS) -> list[str]:
    """train.py on the tiny config: one step per epoch (10 clips, 8 per step), a checkpoint
    after each; one compiled step."""
    return [
        sys.executable,
        "train.py",
        "--config=configs/tiny.py",
        f"--workdir={workdir}",
        f"--config.data.root={data}",
        f"--config.train.max_steps={max_steps}",
        f"--config.train.epochs={MAX_STEPS}",
        "--config.optim.only_train_query_updater_after=100",
        "--config.eval.every_epochs=0",
        "--config.train.keep_checkpoints=10",
        *extra,
    ]


def cpu_env(devices: int, **extra: str) -> dict:
    """A train.py environment with `devices` CPU devices per process. os.environ carries the
    suite's XLA flags and persistent compilation cache (tests/conftest.py)."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
    return dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu", **extra)


def checkpoint_params(workdir, step):
    """A checkpoint's (step, {path: params}), restored onto this process's one device (it was
    saved from 8)."""
    path = pathlib.Path(workdir) / "checkpoints" / str(step) / "state"
    one_device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with ocp.StandardCheckpointer() as ckptr:
        meta = ckptr.metadata(path)
        meta = getattr(meta, "item_metadata", meta)
        target = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one_device), meta
        )
        state = ckptr.restore(path, target)
    return int(state["step"]), dict(jax.tree_util.tree_leaves_with_path(state["params"]))


def logged_losses(workdir) -> list[tuple[int, float]]:
    lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines)]


def _make_run(out: pathlib.Path) -> dict:
    data, one = out / "data", out / "one"
    synthetic_mot.write_dataset(
        str(data),
        synthetic_mot.SyntheticConfig(
            width=96, height=64, num_frames=6, splits=(("train", 2), ("val", 1))
        ),
    )
    proc = subprocess.run(
        train_command(one, data),
        cwd=REPO,
        env=cpu_env(8),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"data": str(data), "one": str(one)}


@pytest.fixture(scope="session")
def eight_device_run(tmp_path_factory) -> dict:
    """{"data": the synthetic dataset, "one": the workdir of the 1-process, 8-device run}."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        run = _make_run(tmp_path_factory.mktemp("eight_devices"))
    else:  # one run for all workers: the session's base directory is shared by them
        out = tmp_path_factory.getbasetemp().parent / "eight_devices"
        out.mkdir(exist_ok=True)
        done = out / "run.json"
        with open(out / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                for path in (out / "data", out / "one"):  # a failed attempt's leftovers
                    shutil.rmtree(path, ignore_errors=True)
                done.write_text(json.dumps(_make_run(out)))
            run = json.loads(done.read_text())
    return {k: pathlib.Path(v) for k, v in run.items()}
