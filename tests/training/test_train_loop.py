"""train.py end to end on the synthetic config (a few steps + a periodic evaluation), and the
errors of bad input: a config typo, a missing data root, an init checkpoint that does not fit,
a workdir holding a run of another config."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import types

import jax.numpy as jnp
import numpy as np
import pytest

from configs import bft, synthetic, tiny
from sambamotr_jax.evaluation import split_eval
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.training import train_loop
from sambamotr_jax.weights import converted_checkpoint

REPO = pathlib.Path(__file__).resolve().parents[2]

# The synthetic config on a tiny dataset: 64x48 frames, clips of 2 frames, one pad bucket.
SMALL_DATA = [
    "--config.data.synthetic.width=64",
    "--config.data.synthetic.height=48",
    "--config.data.synthetic.num_frames=12",
    "--config.data.synthetic.train_seqs=1",
    "--config.data.synthetic.val_seqs=1",
    "--config.data.scales=(48,)",
    "--config.data.max_size=64",
    "--config.data.pad_buckets=((48,64),)",
    "--config.data.sample_lengths=(2,)",
    "--config.data.sample_intervals=(2,)",
    "--config.data.num_workers=0",
    "--config.tracker.short_side=48",
    "--config.tracker.max_size=64",
]


def _env() -> dict:
    """Subprocess environment: os.environ carries the session's persistent compilation cache
    (conftest.py), shared with the other tests."""
    return dict(os.environ, JAX_PLATFORMS="cpu")


def _train(args, env, timeout=900):
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_synthetic_config_end_to_end(tmp_path):
    workdir = tmp_path / "run"
    args = [
        "--config=configs/synthetic.py",
        f"--workdir={workdir}",
        "--config.train.max_steps=2",
        "--config.train.log_every=1",
        "--config.eval.every_steps=2",
        *SMALL_DATA,
    ]
    proc = _train(args, _env())
    assert proc.returncode == 0, proc.stderr[-4000:]

    # The synthetic dataset was generated into the workdir.
    assert (workdir / "data" / "SyntheticMOT" / "val_seqmap.txt").is_file()
    # One metrics line per logged step, with a finite loss.
    lines = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2]
    for x in lines:
        assert np.isfinite(x["loss"]) and x["loss"] > 0
        assert {"grad_norm", "lr", "step_time_s", "clips_per_s", "label_focal_loss"} <= set(x)
    # TensorBoard events, the final checkpoint, the evaluated export and its scores.
    assert list((workdir / "tb").glob("events.out.tfevents.*"))
    assert (workdir / "checkpoints" / "2").is_dir()
    assert (workdir / "exports" / "step_2" / converted_checkpoint.MODEL_JSON).is_file()
    summary = json.loads(
        (workdir / "eval" / "step_2" / "val" / "tracker" / "summary.json").read_text()
    )
    assert set(summary) == {"synth0002", "COMBINED"}
    assert 0.0 <= summary["COMBINED"]["HOTA"] <= 100.0
    evals = [json.loads(x) for x in (workdir / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [2] and evals[0]["HOTA"] == summary["COMBINED"]["HOTA"]

    # The same command again: the run is complete, nothing more is trained.
    proc = _train(args, _env())
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Resumed from checkpoint 2" in proc.stderr
    assert len((workdir / "metrics.jsonl").read_text().splitlines()) == 2


def test_config_typo_is_an_error(tmp_path):
    proc = _train(
        ["--config=configs/tiny.py", f"--workdir={tmp_path}", "--config.train.max_step=3"],
        dict(os.environ),
        timeout=120,
    )
    assert proc.returncode == 2
    assert 'Did you mean "max_steps"' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "config.json").exists()


def test_missing_data_root(tmp_path):
    config = tiny.get_config()
    config.data.dataset = "DanceTrack"
    with pytest.raises(InputError, match=r"--config.data.root=DIR.*DanceTrack/"):
        train_loop.train_and_evaluate(config, tmp_path / "a")
    config.data.root = str(tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"nowhere/DanceTrack not found"):
        train_loop.train_and_evaluate(config, tmp_path / "b")


def test_workdir_of_another_config(tmp_path):
    config = tiny.get_config()
    train_loop.check_workdir(config, tmp_path)  # a new workdir records its config
    saved = json.loads((tmp_path / train_loop.CONFIG_JSON).read_text())
    assert saved["model"]["hidden_dim"] == 32
    # Paths, stopping and logging may change between the runs of one workdir...
    config.train.max_steps = 7
    config.data.root = "/elsewhere"
    train_loop.check_workdir(config, tmp_path)
    # ... the model or the optimization may not.
    other = synthetic.get_config()
    with pytest.raises(
        InputError, match=r"another config(.|\n)*model.hidden_dim: workdir has 32, "
    ):
        train_loop.check_workdir(other, tmp_path)


def test_init_checkpoint_that_does_not_fit(tmp_path):
    config = tiny.get_config()
    config.data.root = str(tmp_path / "data")
    # Not a converted checkpoint at all.
    config.train.init_from = str(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"init_from=.*no model.json.*sambamotr_jax.convert"):
        train_loop.train_and_evaluate(config, tmp_path / "a")
    # Converted for another model.
    other = tiny.get_config()
    other.model.hidden_dim = 16
    variables = {"params": {"w": np.zeros((2,), np.float32)}}
    converted_checkpoint.save_variables(tmp_path / "other", variables, other.model.to_dict())
    config.train.init_from = str(tmp_path / "other")
    with pytest.raises(InputError, match=r"model.hidden_dim: checkpoint has 16, config has 32"):
        train_loop.train_and_evaluate(config, tmp_path / "b")
    # Made for this model config but with other parameters.
    converted_checkpoint.save_variables(tmp_path / "same", variables, config.model.to_dict())
    config.train.init_from = str(tmp_path / "same")
    with pytest.raises(
        InputError, match=r"does not fit the model(.|\n)*missing params/detector(.|\n)*convert"
    ):
        train_loop.train_and_evaluate(config, tmp_path / "c")


def test_first_non_finite_names_the_step():
    ok = {"total_loss": 3.0, "grad_norm": 10.0, "params_finite": True}
    assert train_loop.first_non_finite([(1, ok), (2, ok)]) is None
    bad_grad = dict(ok, grad_norm=float("inf"))
    bad_loss = dict(ok, total_loss=float("nan"))
    found = train_loop.first_non_finite([(4, ok), (5, bad_grad), (6, bad_loss)])
    assert found == (5, "grad_norm", float("inf"))
    step, name, value = train_loop.first_non_finite([(7, bad_loss)])
    assert (step, name) == (7, "total_loss") and np.isnan(value)
    assert train_loop.first_non_finite([(9, dict(ok, params_finite=False))])[:2] == (
        9,
        "parameters",
    )


def test_bft_periodic_evaluation_finds_the_annotations_mot_ground_truth(tmp_path, monkeypatch):
    """BFT keeps its gt in BFT/annotations_mot/<split>/<seq>.txt (columns 7-9 -1,-1,-1) and its
    frames directly in BFT/<split>/<seq>/ without seqinfo.ini: periodic evaluation scores them
    (a perfect fake tracker: HOTA 100)."""
    base = tmp_path / "data" / "BFT"
    gt = {1: [(1, 10.0, 20.0, 30.0, 40.0)], 2: [(1, 12.0, 20.0, 30.0, 40.0)]}
    gt[3] = [(1, 14.0, 20.0, 30.0, 40.0), (2, 100.0, 50.0, 20.0, 20.0)]
    (base / "val" / "bird1").mkdir(parents=True)
    for f in gt:
        (base / "val" / "bird1" / f"{f:06d}.jpg").write_bytes(b"")
    (base / "annotations_mot" / "val").mkdir(parents=True)
    lines = [
        f"{f},{i},{x},{y},{w},{h},-1,-1,-1\n" for f, rows in gt.items() for i, x, y, w, h in rows
    ]
    (base / "annotations_mot" / "val" / "bird1.txt").write_text("".join(lines))
    (base / "val_seqmap.txt").write_text("name\nbird1\n")

    config = bft.get_config()
    split = train_loop.eval_split(config, str(tmp_path / "data"))
    assert split == split_eval.EvalSplit(
        base / "val", base / "val_seqmap.txt", base / "annotations_mot" / "val", "mot"
    )

    def fake_make_track_fn(config, export):
        def track_fn(frames, *, interval):
            for f in range(1, len(frames) + 1, interval):
                yield f, [(i, x, y, w, h, 0.9) for i, x, y, w, h in gt[f]]

        return track_fn

    monkeypatch.setattr(train_loop.sequence_runner, "make_track_fn", fake_make_track_fn)
    state = types.SimpleNamespace(params={"w": jnp.ones(2)}, buffers={})
    scores = train_loop.evaluate(config, state, 5, tmp_path / "run", split)
    assert scores["HOTA"] == pytest.approx(100.0) and scores["IDSW"] == 0
    out = tmp_path / "run" / "eval" / "step_5" / "val"
    # The -1 flag/class/visibility became 1,1,1: every box counts, as the official BFT scorer.
    assert (out / "gt_mot" / "bird1.txt").read_text().splitlines()[
        0
    ] == "1,1,10.0,20.0,30.0,40.0,1,1,1"
    assert train_loop.eval_message(5, scores).startswith("step 5: HOTA 100.00 (")
