"""`track` and `demo` on real video files (tiny random-init model): a damaged frame is one
warning line and is skipped, --max_frames stops early, the drawn video has one frame per tracked
frame, and an empty or unreadable file is one error line before any model is loaded."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import cv2
import jax
import numpy as np
import pytest

from configs import tiny
from sambamotr_jax import model as model_lib
from sambamotr_jax.formats import video_file
from sambamotr_jax.tracking import sequence_runner
from sambamotr_jax.weights import converted_checkpoint
from tests.formats.test_video_file import corrupt_one_frame, gray_frames, write_video

REPO = pathlib.Path(__file__).resolve().parents[1]
NUM_FRAMES = 9
# Low thresholds: the random model reports boxes on every frame.
TINY = [
    "--config=configs/tiny.py",
    "--config.tracker.det_score_thresh=0.0",
    "--config.tracker.track_score_thresh=0.0",
    "--config.tracker.result_score_thresh=0.0",
]


def _run(args, timeout=600) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny random-init checkpoint and a 9-frame .avi whose frame `k` cannot be decoded."""
    root = tmp_path_factory.mktemp("video_cli")
    config = tiny.get_config()
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    converted_checkpoint.save_variables(root / "ckpt", variables, config.model.to_dict())
    video = root / "damaged.avi"
    write_video(video, gray_frames(NUM_FRAMES, h=96, w=128))
    return root / "ckpt", video, corrupt_one_frame(video)


def warnings_about(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "cannot be decoded" in line]


def test_demo_skips_the_damaged_frame_and_writes_one_frame_per_frame(inputs, tmp_path):
    ckpt, video, k = inputs
    out = tmp_path / "tracks.mp4"
    proc = _run(["-m", "sambamotr_jax.demo", f"--input={video}", f"--checkpoint={ckpt}",
                 f"--output={out}", *TINY])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = warnings_about(proc.stderr)
    assert len(warnings) == 1 and f"damaged.avi: frame {k} cannot be decoded" in warnings[0]
    assert f"wrote {NUM_FRAMES - 1} frames" in proc.stdout
    written = video_file.open_video(out)
    assert written.fps == 10.0 and len(list(written.frames())) == NUM_FRAMES - 1

    out_dir = tmp_path / "first3"
    proc = _run(["-m", "sambamotr_jax.demo", f"--input={video}", f"--checkpoint={ckpt}",
                 f"--output={out_dir}", "--max_frames=3", *TINY])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out_dir.iterdir()) == [f"{i:08d}.jpg" for i in (1, 2, 3)]


def test_track_numbers_frames_as_the_video_and_stops_at_max_frames(inputs, tmp_path):
    ckpt, video, k = inputs
    out = tmp_path / "tracks.txt"
    max_frames = k + 2
    proc = _run(["-m", "sambamotr_jax.track", f"--input={video}", f"--checkpoint={ckpt}",
                 f"--output={out}", f"--max_frames={max_frames}", *TINY])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(warnings_about(proc.stderr)) == 1
    assert f"for {max_frames - 1} frames" in proc.stdout
    numbers = {int(line.split(",")[0]) for line in out.read_text().splitlines()}
    # MOT frame numbers are the video's: the damaged frame k (number k + 1) is missing.
    assert numbers == set(range(1, max_frames + 1)) - {k + 1}


@pytest.mark.parametrize("prog", ["track", "demo"])
def test_empty_or_unreadable_video_is_one_error_line(tmp_path, prog):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mkv").write_text("not a video\n" * 100)
    (tmp_path / "ckpt").mkdir()  # never loaded: the input is checked first
    for name, problem in [("empty.mp4", "empty file (0 bytes)"),
                          ("notes.mkv", "cannot read this file as a video")]:  # fmt: skip
        args = [f"--input={tmp_path / name}", f"--checkpoint={tmp_path / 'ckpt'}",
                f"--output={tmp_path / 'out'}", "--config=configs/tiny.py"]  # fmt: skip
        proc = _run(["-m", f"sambamotr_jax.{prog}", *args], timeout=120)
        assert proc.returncode == 2, proc.stderr[-3000:]
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        prefix = f"python -m sambamotr_jax.{prog}: error: {tmp_path / name}: {problem}"
        assert lines[0].startswith(prefix), lines[0]


def test_open_input_reads_folders_and_videos_lazily(tmp_path):
    seq = tmp_path / "seq"
    (seq / "img1").mkdir(parents=True)
    for i, frame in enumerate(gray_frames(5), start=1):
        cv2.imwrite(str(seq / "img1" / f"{i:08d}.png"), frame)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=seq\nseqLength=5\nframeRate=25\n")
    frames = sequence_runner.open_input(seq, interval=2)
    assert (frames.name, frames.fps, frames.count) == ("seq", 25.0, 2)
    got = list(frames.frames)
    assert [i for i, _ in got] == [0, 2]
    np.testing.assert_array_equal(got[1][1], gray_frames(5)[2])
    assert sequence_runner.open_input(seq / "img1", max_frames=3).fps == 25.0
    assert sequence_runner.open_input(seq / "img1", max_frames=3).count == 3

    write_video(tmp_path / "v.mkv", gray_frames(7), fps=8)
    frames = sequence_runner.open_input(tmp_path / "v.mkv", interval=3, max_frames=6)
    assert frames.fps == 8.0
    assert [i for i, _ in frames.frames] == [0, 3]
    with pytest.raises(sequence_runner.InputError, match="not found; give a sequence folder"):
        sequence_runner.open_input(tmp_path / "missing.mp4")
