"""eval.py over two processes (127.0.0.1): each tracks its share of the sequences, process 0
scores; the result files and summary equal those of the one-process run. So do those of
--streams=2, in one process and in two, and of --devices=2 in a process with two (forced host)
devices; a frame that cannot be read on one device stops the run with one line."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import jax
import pytest

from configs import tiny
from data_pipeline import synthetic_mot
from sambamotr_jax import model as model_lib
from sambamotr_jax.runtime import distributed
from sambamotr_jax.weights import converted_checkpoint

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_S = 600
ENV = dict(os.environ, JAX_PLATFORMS="cpu")
# Read when jax starts in the subprocess: two CPU devices in one process.
TWO_DEVICES = dict(
    ENV, XLA_FLAGS=f"{ENV.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
)


def _eval_command(root, ckpt, workdir) -> list[str]:
    return [
        sys.executable,
        "eval.py",
        "--config=configs/tiny.py",
        f"--config.data.root={root}",
        "--config.data.dataset=SyntheticMOT",
        f"--checkpoint={ckpt}",
        "--split=val",
        f"--workdir={workdir}",
        "--noprogress",
        # A random-init model scores ~0.01 (the class bias prior): low thresholds give tracks.
        "--config.tracker.det_score_thresh=0.005",
        "--config.tracker.track_score_thresh=0.005",
        "--config.tracker.result_score_thresh=0.005",
        "--config.tracker.area_thresh=0",
        "--config.tracker.max_tracks=16",
    ]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """Synthetic data (3 val sequences), a tiny random checkpoint and the one-process,
    one-stream run of eval.py that the other runs must reproduce."""
    tmp_path = tmp_path_factory.mktemp("eval")
    root = tmp_path / "data"
    synthetic_mot.write_dataset(
        str(root),
        synthetic_mot.SyntheticConfig(
            width=96, height=64, num_frames=6, splits=(("train", 1), ("val", 3))
        ),
    )
    config = tiny.get_config()
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    ckpt = tmp_path / "ckpt"
    converted_checkpoint.save_variables(ckpt, variables, config.model.to_dict())
    one = subprocess.run(
        _eval_command(root, ckpt, tmp_path / "one"),
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert one.returncode == 0, one.stderr[-4000:]
    return root, ckpt, tmp_path / "one" / "val" / "tracker", one.stdout


def _two_processes(root, ckpt, workdir, *extra) -> list[tuple[str, str]]:
    """eval.py in two processes over 127.0.0.1; their (stdout, stderr)."""
    port = distributed.free_loopback_port()
    procs = []
    try:
        for i in range(2):
            cmd = _eval_command(root, ckpt, workdir) + list(extra)
            cmd += [f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
            procs.append(
                subprocess.Popen(
                    [*cmd, f"--process_id={i}"],
                    cwd=REPO,
                    env=ENV,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=60)
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-3000:] + outs[1][1][-3000:]
    return outs


def _assert_same_files(a: pathlib.Path, b: pathlib.Path, root: pathlib.Path):
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert [n for n in names if n.endswith(".txt") and n != "summary.txt"] == [
        f"{s}.txt" for s in sorted(d.name for d in (root / "SyntheticMOT" / "val").iterdir())
    ]
    for name in names:
        assert (b / name).read_text() == (a / name).read_text(), name
        assert (a / name).read_text(), name  # every sequence has tracks


def _table(out: str) -> list[str]:
    return [x for x in out.splitlines() if not x.startswith("[Gloo]")]


def test_two_process_eval_equals_one_process(one_process, tmp_path):
    root, ckpt, one_dir, one_stdout = one_process
    outs = _two_processes(root, ckpt, tmp_path / "two")
    _assert_same_files(one_dir, tmp_path / "two" / "val" / "tracker", root)
    assert json.loads((tmp_path / "two" / "val" / "tracker" / "summary.json").read_text())[
        "COMBINED"
    ]
    # Process 0 prints the table of the one-process run; process 1 prints none.
    assert _table(outs[0][0]) == _table(one_stdout) and "HOTA" in one_stdout
    assert "HOTA" not in outs[1][0]


def test_streams_write_the_files_of_one_stream(one_process, tmp_path):
    """--streams=2: 3 sequences in 2 streams (a slot reused) in one process, then in each of
    two processes (process 0 tracks 2 sequences together): the files of --streams=1."""
    root, ckpt, one_dir, one_stdout = one_process
    streams = subprocess.run(
        _eval_command(root, ckpt, tmp_path / "streams") + ["--streams=2"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert streams.returncode == 0, streams.stderr[-4000:]
    assert "in 2 streams" in streams.stderr
    _assert_same_files(one_dir, tmp_path / "streams" / "val" / "tracker", root)
    assert _table(streams.stdout) == _table(one_stdout)

    outs = _two_processes(root, ckpt, tmp_path / "two", "--streams=2")
    _assert_same_files(one_dir, tmp_path / "two" / "val" / "tracker", root)
    assert _table(outs[0][0]) == _table(one_stdout)


def _devices_of(stderr: str) -> dict[str, str]:
    """{sequence: device} from the log lines `<seq>: N frames[, F FPS] on <device> -> <file>`."""
    found = re.findall(r"\] (\S+): \d+ frames[^\n]* on (\S+) -> ", stderr)
    assert len(found) == len(dict(found)), found  # each sequence once
    return dict(found)


def test_two_devices_write_the_files_of_one_device(one_process, tmp_path):
    """--devices=2 in a process with two devices: each device tracks some of the 3 sequences
    (pulled from one queue; each tracker checks that its state is on its device), and the files
    and table are those of one device."""
    root, ckpt, one_dir, one_stdout = one_process
    run = subprocess.run(
        _eval_command(root, ckpt, tmp_path / "two") + ["--devices=2"],
        cwd=REPO,
        env=TWO_DEVICES,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    _assert_same_files(one_dir, tmp_path / "two" / "val" / "tracker", root)
    assert _table(run.stdout) == _table(one_stdout)
    on = _devices_of(run.stderr)
    assert sorted(on) == sorted(d.name for d in (root / "SyntheticMOT" / "val").iterdir())
    assert set(on.values()) == {"cpu:0", "cpu:1"}, on
    assert "on 2 devices (cpu:0, cpu:1)" in run.stderr


def test_unreadable_frame_on_one_device_is_one_line(one_process, tmp_path):
    """--devices=2 --streams=2 (each device two streams over every other sequence by name):
    the first frame of the second sequence, cpu:1's one sequence, cannot be read. The run stops
    with one line naming it; that sequence has no result file; cpu:0 (its step compiled by the
    --streams test) is stopped, or has finished: a result file it wrote is the one-device run's."""
    root, ckpt, one_dir, _ = one_process
    bad_root = tmp_path / "data"
    shutil.copytree(root, bad_root)
    names = sorted(d.name for d in (bad_root / "SyntheticMOT" / "val").iterdir())
    frame = bad_root / "SyntheticMOT" / "val" / names[1] / "img1" / "00000001.jpg"
    frame.write_bytes(frame.read_bytes()[:200])
    run = subprocess.run(
        _eval_command(bad_root, ckpt, tmp_path / "out") + ["--devices=2", "--streams=2"],
        cwd=REPO,
        env=TWO_DEVICES,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert run.returncode == 2, run.stderr[-4000:]
    errors = [x for x in run.stderr.splitlines() if "error:" in x]
    assert len(errors) == 1, run.stderr[-4000:]
    assert errors[0].startswith(f"eval.py: error: {frame}: truncated or corrupt JPEG")
    assert errors[0].endswith("tracking stopped before any frame was tracked")
    out = tmp_path / "out" / "val" / "tracker"
    assert not (out / f"{names[1]}.txt").exists() and not (out / "summary.json").exists()
    for result in out.glob("*.txt"):
        assert result.read_text() == (one_dir / result.name).read_text(), result.name
