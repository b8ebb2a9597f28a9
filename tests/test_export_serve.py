"""Export -> serve reproduces the in-process tracker on both official fixtures, with the runner's
forbidden imports blocked; the capacity grows (8 -> 16: 11 and 14 live tracks in frames 3-4).

Per fixture: one in-process run, one export (SambaMOTR through the export CLI for cpu,cuda from a
converted checkpoint; MeMOTR through the library for cpu), one serve CLI run in a subprocess
where flax, optax, orbax, torch, grain, tensorflow_datasets and the model's packages cannot be
imported. The cpu,cuda artifact carries the Pallas Triton kernel for CUDA and runs on CPU.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import cv2
import jax
import numpy as np
import pytest

from configs import dancetrack, memotr_dancetrack
from sambamotr_jax import api
from sambamotr_jax.formats import tracker_artifact
from sambamotr_jax.online.frame_loop import mot_lines
from sambamotr_jax.tracking import step_export
from sambamotr_jax.weights import conversion, converted_checkpoint, torch_state
from tests import official_fixture
from tests.conftest import shared_path

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = {"official_def_detr": dancetrack, "official_memotr_dab_detr": memotr_dancetrack}
BLOCKED = (
    "flax",
    "optax",
    "orbax",
    "torch",
    "grain",
    "tensorflow_datasets",
    "kernels",
    "sambamotr_jax.model",
    "sambamotr_jax.api",
    "sambamotr_jax.nn",
    "sambamotr_jax.detector",
    "sambamotr_jax.updaters",
    "sambamotr_jax.tracking",
    "sambamotr_jax.weights",
    "sambamotr_jax.training",
    "sambamotr_jax.evaluation",
)
# Runs the serve CLI after installing a finder that refuses the modules above.
SERVE_BLOCKED = f"""
import sys
BLOCKED = {BLOCKED!r}
class Block:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{name}} is blocked: the runner must not import it")
        return None
sys.meta_path.insert(0, Block())
from sambamotr_jax import serve
sys.argv = [serve.__file__, *sys.argv[1:]]  # as `python -m sambamotr_jax.serve` sets it
serve.run()
"""
OVERRIDES = ("det_score_thresh", "track_score_thresh", "result_score_thresh", "miss_tolerance")


def serve_blocked(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SERVE_BLOCKED, *args], cwd=REPO, capture_output=True, text=True
    )


def write_frames(frames, folder: pathlib.Path) -> pathlib.Path:
    (folder / "img1").mkdir(parents=True)
    for t, frame in enumerate(frames):
        cv2.imwrite(
            str(folder / "img1" / f"{t + 1:08d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        )
    return folder


def export_cli(config, variables, tmp: pathlib.Path, out: pathlib.Path, frame_hw) -> None:
    ckpt = converted_checkpoint.save_variables(tmp / "ckpt", variables, config.model.to_dict())
    t = config.tracker
    args = [f"--config.tracker.{name}={t[name]}" for name in OVERRIDES]
    args += [f"--config.model.update_thresh={config.model.update_thresh}"]
    args += [f"--config.tracker.{n}={t[n]}" for n in ("short_side", "max_size", "max_tracks")]
    args += [f"--config.tracker.max_tracks_limit={t.max_tracks_limit}"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sambamotr_jax.export",
            "--config=configs/dancetrack.py",
            f"--checkpoint={ckpt}",
            f"--frame_size={frame_hw[0]},{frame_hw[1]}",
            "--platforms=cpu,cuda",
            f"--output={out}",
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module", params=list(FIXTURES))
def run(request, tmp_path_factory):
    name = request.param
    root = shared_path("fixtures", name)
    tmp = tmp_path_factory.mktemp(name)
    meta = json.loads((root / "meta.json").read_text())
    config = official_fixture.tracker_config(FIXTURES[name], meta)
    config.tracker.max_tracks, config.tracker.max_tracks_limit = 8, 16
    variables, report, _ = conversion.convert_state(
        torch_state.load_torch_checkpoint(root / "weights.pth"), config
    )
    assert report.missing == [] and report.unexpected == []
    frames = list(np.load(root / "inputs.npz")["frames_uint8"])

    tracker = api.Tracker(config, variables)
    in_process = [line for frame in tracker.track_frames(frames) for line in mot_lines(frame)]
    assert tracker.capacity == 16  # grew once, redoing frame 3

    artifact = tmp / "tracker.zip"
    if name == "official_def_detr":
        export_cli(config, variables, tmp, artifact, frames[0].shape[:2])
    else:
        step_export.export_tracker(config, variables, [frames[0].shape[:2]], artifact)
    seq = write_frames(frames, tmp / "seq")
    out = tmp / "served.txt"
    done = serve_blocked(f"--artifact={artifact}", f"--input={seq}", f"--output={out}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {
        "name": name,
        "in_process": in_process,
        "served": out.read_text().splitlines(),
        "artifact": artifact,
        "frame_hw": frames[0].shape[:2],
        "tmp": tmp,
    }


def test_served_lines_equal_the_in_process_tracker(run):
    ours, theirs = run["served"], run["in_process"]
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs):
        a, b = a.strip().split(","), b.strip().split(",")
        assert a[:2] == b[:2] and a[6:] == b[6:], (a, b)
        np.testing.assert_allclose(np.float64(a[2:6]), np.float64(b[2:6]), atol=1e-3)


def test_artifact_holds_each_capacity_and_the_settings(run):
    artifact = tracker_artifact.read_artifact(run["artifact"])
    m = artifact.manifest
    assert m["capacities"] == [8, 16]
    assert m["frame_sizes"] == [{"frame": list(run["frame_hw"]), "input": [256, 352]}]
    assert sorted(artifact.steps) == [(256, 352, 8), (256, 352, 16)]
    assert m["tracker"]["short_side"] == 256 and m["tracker"]["max_size"] == 352
    assert {s["name"] for s in m["state"]} >= {"live", "ids", "next_id"}


def test_cpu_cuda_artifact_carries_the_triton_kernel_for_cuda(run):
    if run["name"] != "official_def_detr":
        pytest.skip("the SambaMOTR artifact is the one exported for cpu,cuda")
    artifact = tracker_artifact.read_artifact(run["artifact"])
    assert artifact.manifest["platforms"] == ["cpu", "cuda"]
    exported = jax.export.deserialize(bytearray(artifact.steps[(256, 352, 8)]))
    assert exported.platforms == ("cpu", "cuda")
    # One kernel per deformable attention: 6 encoder and 6 decoder layers. (It ran on CPU in
    # the test above, through the xla branch.)
    assert exported.mlir_module().count(step_export.TRITON_CALL) == 12


def test_a_frame_of_another_size_is_a_clear_error(run):
    if run["name"] != "official_def_detr":
        pytest.skip("checked once")
    # Portrait: 400x300 becomes a 352x256 input (a 300x400 frame would fit: 256x352).
    seq = write_frames([np.zeros((400, 300, 3), np.uint8)], run["tmp"] / "other_size")
    done = serve_blocked(
        f"--artifact={run['artifact']}", f"--input={seq}", f"--output={run['tmp'] / 'x.txt'}"
    )
    assert done.returncode == 2
    h, w = run["frame_hw"]
    assert done.stderr.strip().splitlines() == [
        f"python -m sambamotr_jax.serve: error: a 400x300 frame (input 352x256 after resize and "
        f"padding) is not in {run['artifact']}: it was exported for frames {h}x{w} (input "
        f"256x352); export it with --frame_size=400,300"
    ]
