"""bfloat16 inference (`config.model.dtype='bfloat16'`): the detector computes in bfloat16, the
query updater, the track state and the results stay float32.

On the official SambaMOTR fixture the bfloat16 boxes are compared with the official tracker.txt
(which the float32 tracker reproduces to 1e-3 px, test_tracker_fixture.py) for the (frame, id)
pairs both report. The fixture's random-weight model has thresholds chosen with small margins
(meta.json `threshold_search`), so bfloat16 may report other ids; only matched ids are compared.
The export CLI's `--dtype=bfloat16` is checked on the tiny config.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from configs import dancetrack, tiny
from sambamotr_jax import api, serve
from sambamotr_jax import model as model_lib
from sambamotr_jax.formats import tracker_artifact
from sambamotr_jax.weights import conversion, converted_checkpoint, torch_state
from tests import official_fixture
from tests.conftest import shared_path

REPO = pathlib.Path(__file__).resolve().parents[2]
# Measured on the fixture: max 1.34 px, mean 0.43 px over 12 matched boxes (512x704 frames;
# benchmarks/bfloat16_inference.py, docs/benchmarks.md).
MAX_BOX_PX, MEAN_BOX_PX = 4.0, 1.5


def test_bfloat16_boxes_stay_close_to_float32_on_the_sambamotr_fixture():
    root = shared_path("fixtures", "official_def_detr")
    config = official_fixture.tracker_config(
        dancetrack, json.loads((root / "meta.json").read_text())
    )
    config.model.dtype = "bfloat16"
    variables, _, _ = conversion.convert_state(
        torch_state.load_torch_checkpoint(root / "weights.pth"), config
    )
    frames = list(np.load(root / "inputs.npz")["frames_uint8"])
    tracker = api.Tracker(config, variables)
    out = list(tracker.track_frames(frames))

    assert [f.index for f in out] == list(range(len(frames)))
    state = tracker.state
    for leaf in (state.query_embed, state.ref_pts, *state.updater.values()):
        assert leaf.dtype == jnp.float32
    reference = {}  # (frame, id) -> x1y1x2y2 of the official run (= float32)
    for line in (root / "tracker.txt").read_text().splitlines():
        f, i, x, y, w, h = (float(v) for v in line.split(",")[:6])
        reference[int(f) - 1, int(i)] = np.array([x, y, x + w, y + h])
    devs = []
    for frame in out:
        assert frame.boxes_xyxy.dtype == frame.scores.dtype == np.float32
        for i, box in zip(frame.ids.tolist(), frame.boxes_xyxy):
            if (frame.index, i) in reference:
                devs.append(np.abs(box - reference[frame.index, i]))
    devs = np.stack(devs)
    assert len(devs) >= 8, f"only {len(devs)} of {len(reference)} boxes matched by id"
    assert devs.max() <= MAX_BOX_PX and devs.mean() <= MEAN_BOX_PX, (devs.max(), devs.mean())


def test_export_dtype_flag_records_bfloat16_and_serves_the_in_process_tracker(tmp_path):
    config = tiny.get_config()
    t = config.tracker
    t.det_score_thresh = t.track_score_thresh = t.result_score_thresh = t.area_thresh = 0.0
    t.short_side, t.max_size, t.max_tracks, t.max_tracks_limit = 48, 64, 16, 16
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    ckpt = converted_checkpoint.save_variables(tmp_path / "ckpt", variables, config.model.to_dict())
    artifact = tmp_path / "tracker.zip"
    set_fields = ("det_score_thresh", "track_score_thresh", "result_score_thresh", "area_thresh")
    set_fields += ("short_side", "max_size", "max_tracks", "max_tracks_limit")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sambamotr_jax.export",
            "--config=configs/tiny.py",
            f"--checkpoint={ckpt}",
            "--frame_size=48,64",
            "--dtype=bfloat16",
            f"--output={artifact}",
            *(f"--config.tracker.{n}={t[n]}" for n in set_fields),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    read = tracker_artifact.read_artifact(artifact)
    assert read.manifest["dtype"] == read.manifest["model"]["dtype"] == "bfloat16"
    assert {a.dtype for a in read.weights.values() if a.dtype.kind == "f"} == {np.dtype(np.float32)}
    assert sorted(read.steps) == [(64, 64, 16)]  # 48x64 padded to multiples of 32
    exported = jax.export.deserialize(bytearray(read.steps[(64, 64, 16)]))
    assert "bf16" in exported.mlir_module()

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8) for _ in range(2)]
    served = list(serve.ArtifactTracker(artifact).track_frames(frames))
    config.model.dtype = "bfloat16"
    in_process = list(api.Tracker(config, variables).track_frames(frames))
    assert sum(len(f.ids) for f in served) > 0
    for a, b in zip(served, in_process, strict=True):
        np.testing.assert_array_equal(a.ids, b.ids)
        assert a.boxes_xyxy.dtype == np.float32
        np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, rtol=1e-5, atol=1e-4)
