"""End to end as a user runs it: converter CLI -> track CLI on the official fixture reproduces
tracker.txt; synthetic data -> eval.py with a tiny checkpoint writes results and summary.json."""

import json
import pathlib
import subprocess
import sys

import cv2
import jax
import numpy as np

from configs import tiny
from sambamotr_jax import model as model_lib
from sambamotr_jax.weights import converted_checkpoint

REPO = pathlib.Path(__file__).resolve().parents[1]


def run(args, **kw):
    out = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, **kw)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def test_convert_and_track_cli_reproduce_official_tracker_txt(def_detr_fixture, tmp_path):
    meta = json.loads((def_detr_fixture / "meta.json").read_text())
    th = meta["inference"]["thresholds"]
    seq = tmp_path / "seq" / "img1"
    seq.mkdir(parents=True)
    for t, frame in enumerate(np.load(def_detr_fixture / "inputs.npz")["frames_uint8"]):
        cv2.imwrite(str(seq / f"{t + 1:08d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    ckpt = tmp_path / "ckpt"
    run(
        [
            "-m",
            "sambamotr_jax.convert",
            f"--checkpoint={def_detr_fixture / 'weights.pth'}",
            "--config=configs/dancetrack.py",
            f"--output={ckpt}",
        ]
    )
    out_file = tmp_path / "seq.txt"
    run(
        [
            "-m",
            "sambamotr_jax.track",
            "--config=configs/dancetrack.py",
            f"--checkpoint={ckpt}",
            f"--input={seq.parent}",
            f"--output={out_file}",
            f"--config.tracker.det_score_thresh={th['DET_SCORE_THRESH']}",
            f"--config.tracker.track_score_thresh={th['TRACK_SCORE_THRESH']}",
            f"--config.tracker.result_score_thresh={th['RESULT_SCORE_THRESH']}",
            f"--config.tracker.miss_tolerance={th['MISS_TOLERANCE']}",
            f"--config.model.update_thresh={th['UPDATE_THRESH']}",
            "--config.tracker.short_side=256",
            "--config.tracker.max_size=352",
        ]
    )
    ours = out_file.read_text().splitlines()
    theirs = (def_detr_fixture / "tracker.txt").read_text().splitlines()
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a, b = a.split(","), b.split(",")
        assert a[:2] == b[:2] and a[6:] == b[6:]
        np.testing.assert_allclose(np.float64(a[2:6]), np.float64(b[2:6]), atol=1e-3)


def test_eval_on_synthetic_with_tiny_checkpoint(tmp_path):
    root = tmp_path / "data"
    run(
        [
            "-m",
            "data_pipeline.synthetic_mot",
            f"--out={root}",
            "--width=96",
            "--height=64",
            "--num-frames=6",
            "--train-seqs=1",
            "--val-seqs=2",
        ]
    )
    dataset = next(p.name for p in root.iterdir() if p.is_dir())
    config = tiny.get_config()
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    ckpt = tmp_path / "ckpt"
    converted_checkpoint.save_variables(ckpt, variables, config.model.to_dict())
    workdir = tmp_path / "eval"
    out = run(
        [
            "eval.py",
            "--config=configs/tiny.py",
            f"--config.data.root={root}",
            f"--config.data.dataset={dataset}",
            f"--checkpoint={ckpt}",
            "--split=val",
            f"--workdir={workdir}",
        ]
    )
    results = sorted((workdir / "val" / "tracker").glob("synth*.txt"))
    assert len(results) == 2
    summary = json.loads(next(workdir.rglob("summary.json")).read_text())
    assert set(summary["COMBINED"]) >= {"HOTA", "DetA", "AssA", "LocA", "IDF1", "MOTA", "IDSW"}
    assert "HOTA" in out.stdout
