"""track_to_file when a frame cannot be read: the frames before it are kept in `<out>.partial`."""

import cv2
import jax
import numpy as np
import pytest

from configs import tiny
from sambamotr_jax import model as model_lib
from sambamotr_jax.formats import mot_text
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.tracking import sequence_runner
from sambamotr_jax.weights import converted_checkpoint


def test_truncated_frame_stops_tracking_and_keeps_the_frames_before_it(tmp_path):
    config = tiny.get_config()
    # Every detection query is born each frame: 8 result lines per frame, 8 more every frame.
    config.tracker.det_score_thresh = 0.0
    config.tracker.track_score_thresh = 0.0
    config.tracker.result_score_thresh = 0.0
    config.tracker.area_thresh = 0.0
    model = model_lib.build_model(config.model)
    variables = jax.jit(lambda: model_lib.init_variables(model, jax.random.key(0)))()
    ckpt = tmp_path / "ckpt"
    converted_checkpoint.save_variables(ckpt, variables, config.model.to_dict())
    frames = tmp_path / "seq" / "img1"
    frames.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for t in (1, 2, 3, 4):
        data = cv2.imencode(".jpg", rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))[1]
        data = data.tobytes()
        (frames / f"{t:08d}.jpg").write_bytes(data[: len(data) // 2] if t == 3 else data)
    out = tmp_path / "out" / "seq.txt"

    with pytest.raises(InputError) as err:
        sequence_runner.track_to_file(config, str(ckpt), str(tmp_path / "seq"), str(out))
    message = str(err.value)
    assert message.startswith(f"{frames / '00000003.jpg'}: truncated or corrupt JPEG")
    assert message.endswith(
        f"tracking stopped at frame 3 of {tmp_path / 'seq'}: the 24 lines of the 2 frames "
        f"tracked before it are in {out}.partial ({out} not written)"
    )
    assert not out.exists()
    partial = mot_text.read_mot_file(f"{out}.partial")
    assert np.bincount(partial.frames).tolist() == [0, 8, 16]  # frames 1 and 2, nothing later
