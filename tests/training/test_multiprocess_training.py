"""Multi-process training over 127.0.0.1: two train.py processes of 4 CPU devices each (gloo
collectives) train as one process of 8 devices does, resume together after a kill -9 of both,
and a process that dies stops the other within a bounded time.

One module-scoped run is shared by the tests: the 2-process run killed after its step-2
checkpoint and restarted. The reference is the 1-process, 8-device run of conftest.py (shared with
test_train_sharding.py). Each train.py process compiles the tiny step itself (the persistent
compilation cache of tests/conftest.py serves the restarts).
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time

import jax
import numpy as np
import pytest

from sambamotr_jax.runtime import distributed
from tests.training.conftest import (
    MAX_STEPS,
    REPO,
    TIMEOUT_S,
    checkpoint_params,
    cpu_env,
    logged_losses,
    train_command,
)

pytestmark = pytest.mark.slow

HEARTBEAT_S = 5  # the dying-process test's --heartbeat_timeout_s


class _Processes:
    """N train.py processes of one run over 127.0.0.1; killed (SIGKILL) on exit if still up."""

    def __init__(self, workdir, data, logs: pathlib.Path, num: int = 2, *extra):
        port = distributed.free_loopback_port()
        self.logs = [logs.with_suffix(f".{i}.log") for i in range(num)]
        self.procs = []
        for i, log in enumerate(self.logs):
            with open(log, "w") as f:
                cmd = train_command(workdir, data, *extra)
                cmd += [
                    f"--coordinator_address=127.0.0.1:{port}",
                    f"--num_processes={num}",
                    f"--process_id={i}",
                ]
                self.procs.append(
                    subprocess.Popen(
                        cmd,
                        cwd=REPO,
                        env=cpu_env(4),
                        stdout=f,
                        stderr=subprocess.STDOUT,
                    )
                )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=60)

    def wait(self, timeout: float = TIMEOUT_S) -> list[int]:
        deadline = time.time() + timeout
        for p in self.procs:
            p.wait(timeout=max(deadline - time.time(), 1))
        return [p.returncode for p in self.procs]

    def text(self, i: int) -> str:
        return self.logs[i].read_text()


def _finished_steps(workdir) -> list[int]:
    ckpts = workdir / "checkpoints"
    return (
        sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit()) if ckpts.exists() else []
    )


@pytest.fixture(scope="module")
def runs(eight_device_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multiprocess")
    data, one = eight_device_run["data"], eight_device_run["one"]

    # Two processes of 4 devices, both killed with SIGKILL once the step-2 checkpoint is
    # complete, then restarted with the same commands.
    two = tmp / "two"
    with _Processes(two, data, tmp / "killed") as run:
        deadline = time.time() + TIMEOUT_S
        while 2 not in _finished_steps(two):
            running = all(p.poll() is None for p in run.procs)
            assert running and time.time() < deadline, run.text(0)[-4000:] + run.text(1)[-4000:]
            time.sleep(0.02)
        run.kill()
    killed_at = _finished_steps(two)
    with _Processes(two, data, tmp / "restarted") as run:
        codes = run.wait()
        assert codes == [0, 0], run.text(0)[-4000:] + run.text(1)[-4000:]
        restart_log = run.text(0)
    return dict(tmp=tmp, data=data, one=one, two=two, killed_at=killed_at, log=restart_log)


def test_two_processes_equal_one_process_and_resume_after_kill(runs):
    one, two = runs["one"], runs["two"]
    assert runs["killed_at"][-1] < MAX_STEPS, runs["killed_at"]  # killed mid-run
    assert f"Resumed from checkpoint {runs['killed_at'][-1]}" in runs["log"]
    # Step 2 was trained before the kill, step MAX_STEPS after the restart.
    for step in (2, MAX_STEPS):
        step_one, params_one = checkpoint_params(one, step)
        step_two, params_two = checkpoint_params(two, step)
        assert step_one == step_two == step
        assert params_one.keys() == params_two.keys() and len(params_one) > 50
        for path, a in params_one.items():
            np.testing.assert_allclose(
                np.asarray(params_two[path]),
                np.asarray(a),
                rtol=1e-5,
                atol=1e-6,
                err_msg=jax.tree_util.keystr(path),
            )
    # Only process 0 logs; metrics.jsonl reads as one run with the reference's losses.
    steps_two, losses_two = zip(*logged_losses(two), strict=True)
    steps_one, losses_one = zip(*logged_losses(one), strict=True)
    assert steps_two == steps_one == tuple(range(1, MAX_STEPS + 1))
    np.testing.assert_allclose(losses_two, losses_one, rtol=1e-5)


def test_a_dead_process_stops_the_other(runs, tmp_path):
    workdir = tmp_path / "run"
    with _Processes(
        workdir, runs["data"], tmp_path / "dying", 2, f"--heartbeat_timeout_s={HEARTBEAT_S}"
    ) as run:
        metrics = workdir / "metrics.jsonl"
        deadline = time.time() + TIMEOUT_S
        while not metrics.exists():  # training has started (step 1 logged)
            assert run.procs[0].poll() is None and time.time() < deadline, run.text(0)[-4000:]
            time.sleep(0.05)
        os.kill(run.procs[1].pid, signal.SIGKILL)
        killed = time.time()
        code = run.procs[0].wait(timeout=120)
        seconds = time.time() - killed
    print(f"survivor exited with {code} after {seconds:.1f} s")
    assert code != 0, run.text(0)[-4000:]
    assert seconds < 120
    # "Terminating process because the JAX distributed service detected fatal errors ...
    # The following tasks are unhealthy (stopped sending heartbeats)": 4.3 s after the kill.
    assert "heartbeat" in run.text(0), run.text(0)[-4000:]
