"""A run killed with SIGKILL after a checkpoint and restarted with the same command continues
exactly: its parameters two steps after the restart equal those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp

REPO = pathlib.Path(__file__).resolve().parents[2]
MAX_STEPS = 8


def _command(workdir, data):
    return [
        sys.executable,
        "train.py",
        "--config=configs/tiny.py",
        f"--workdir={workdir}",
        f"--config.data.root={data}",
        f"--config.train.max_steps={MAX_STEPS}",
        "--config.train.checkpoint_every=2",
        "--config.train.keep_checkpoints=10",
    ]


def _env() -> dict:
    """The runs' environment: os.environ carries the session's persistent compilation cache
    (conftest.py), so every run after the first loads the compiled programs instead of compiling
    them. The runs stay separate processes that train from their own state."""
    return dict(os.environ, JAX_PLATFORMS="cpu")


def _state(workdir, step):
    with ocp.StandardCheckpointer() as ckptr:
        return ckptr.restore(workdir / "checkpoints" / str(step) / "state")


def _finished_steps(workdir) -> list[int]:
    """Checkpoints Orbax has finalized (a temporary folder is renamed when complete)."""
    ckpts = workdir / "checkpoints"
    return (
        sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit()) if ckpts.exists() else []
    )


def test_kill_and_resume_is_exact(tmp_path):
    env = _env()
    data = tmp_path / "data"
    run = lambda workdir: subprocess.run(
        _command(workdir, data), cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )

    # The uninterrupted run (it also generates the data and fills the compilation cache).
    straight = tmp_path / "straight"
    proc = run(straight)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert _finished_steps(straight) == [2, 4, 6, 8]

    # The same command, killed with SIGKILL as soon as its first checkpoint is complete.
    killed = tmp_path / "killed"
    with open(tmp_path / "killed.log", "w") as log:
        p = subprocess.Popen(_command(killed, data), cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.time() + 600
        while not _finished_steps(killed) and p.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        still_running = p.poll() is None
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    assert still_running, (tmp_path / "killed.log").read_text()[-4000:]
    assert p.returncode == -signal.SIGKILL
    done = _finished_steps(killed)
    assert done and done[-1] < MAX_STEPS, done
    restart = done[-1]

    # Restart with the same command: it resumes from the last complete checkpoint.
    proc = run(killed)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"Resumed from checkpoint {restart}" in proc.stderr
    after = _state(killed, restart + 2)
    expected = _state(straight, restart + 2)
    assert int(after["step"]) == restart + 2
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(after), jax.tree_util.tree_leaves(expected)
    ):
        np.testing.assert_array_equal(
            np.asarray(a), np.asarray(b), err_msg=jax.tree_util.keystr(path)
        )
    # metrics.jsonl reads as one uninterrupted run: every step once, the same losses.
    losses = lambda w: [
        (r["step"], r["loss"])
        for r in map(json.loads, (w / "metrics.jsonl").read_text().splitlines())
    ]
    assert losses(killed) == losses(straight)
    assert [s for s, _ in losses(straight)] == list(range(1, MAX_STEPS + 1))


def test_ctrl_c_saves_and_stops(tmp_path):
    env = _env()
    workdir = tmp_path / "run"
    command = _command(workdir, tmp_path / "data")
    command[-2] = "--config.train.checkpoint_every=1000"  # only the stop saves
    metrics = workdir / "metrics.jsonl"
    with open(tmp_path / "run.log", "w") as log:
        p = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.time() + 600
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
            assert p.poll() is None and time.time() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGINT)
        assert p.wait(timeout=300) == 0
    text = (tmp_path / "run.log").read_text()
    stopped = int(text.split("Stopped at step ")[1].split()[0])
    assert 2 <= stopped < MAX_STEPS
    assert _finished_steps(workdir) == [stopped]
    assert json.loads(metrics.read_text().splitlines()[-1])["step"] == stopped
