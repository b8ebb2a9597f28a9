"""Nothing lost, nothing silent: one run per workdir (lock), checkpoints that recover (damaged
ones skipped, unfinished folders removed, failed saves stop the run), config validated up front.

Cheap: checkpoints of a small pytree through `TrainCheckpointer`, no model compiled.
"""

from __future__ import annotations

import errno
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import tiny
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.training import config_checks, run_checkpoints, train_loop, workdir_lock

REPO = pathlib.Path(__file__).resolve().parents[2]

# A failed TensorStore read leaves Orbax coroutines that Python reports when it collects them,
# in whichever test runs then.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


# ------------------------------------------------------------------------------------------------
# One run per workdir.


def test_second_lock_fails_naming_the_holder(tmp_path):
    with workdir_lock.WorkdirLock(tmp_path):
        with pytest.raises(InputError) as err:
            workdir_lock.WorkdirLock(tmp_path).acquire()
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path) in msg and f"pid {os.getpid()}" in msg
    # Released on exit (also when the run raised): the next run takes it.
    with pytest.raises(RuntimeError), workdir_lock.WorkdirLock(tmp_path):
        raise RuntimeError("the run failed")
    with workdir_lock.WorkdirLock(tmp_path):
        pass


def test_processes_of_one_run_lock_their_own_files(tmp_path):
    """Process k > 0 of a multi-process run takes `.lock.process_<k>`: never waits on process 0."""
    with workdir_lock.WorkdirLock(tmp_path, 0), workdir_lock.WorkdirLock(tmp_path, 1):
        with pytest.raises(InputError, match="process_1"):
            workdir_lock.WorkdirLock(tmp_path, 1).acquire()


def test_a_killed_holder_frees_the_lock(tmp_path):
    code = (
        "import sys, time; from sambamotr_jax.training import workdir_lock as w; "
        f"w.WorkdirLock({str(tmp_path)!r}, 0).acquire(); print('locked', flush=True); "
        "time.sleep(600)"
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    holder = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(InputError, match=f"pid {holder.pid} "):
            workdir_lock.WorkdirLock(tmp_path).acquire()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with workdir_lock.WorkdirLock(tmp_path):  # the kernel dropped the dead process's lock
        pass


def test_training_a_locked_workdir_fails_at_once(tmp_path):
    config = tiny.get_config()
    config.data.root = str(tmp_path / "data")
    start = time.perf_counter()
    with workdir_lock.WorkdirLock(tmp_path), pytest.raises(InputError, match="in use by"):
        train_loop.train_and_evaluate(config, tmp_path)
    assert time.perf_counter() - start < 5
    assert not (tmp_path / train_loop.CONFIG_JSON).exists()  # nothing touched


# ------------------------------------------------------------------------------------------------
# Checkpoints that recover.


def _state(step: int) -> dict:
    return {"a": jnp.arange(1000.0) + step, "b": jnp.full((3, 4), float(step))}


def _abstract():
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return run_checkpoints.abstract_with_sharding(jax.eval_shape(lambda: _state(0)), sharding)


@pytest.fixture
def three_checkpoints(tmp_path) -> pathlib.Path:
    """`checkpoints/` with steps 1, 2, 3 of `_state`."""
    directory = tmp_path / "checkpoints"
    ckpt = run_checkpoints.TrainCheckpointer(directory, keep=10)
    for step in (1, 2, 3):
        ckpt.save(step, _state(step), {"step": step})
    ckpt.close()
    return directory


def _truncate_largest_array_file(step_dir: pathlib.Path) -> None:
    path = max((p for p in (step_dir / "state").rglob("*") if p.is_file()), key=os.path.getsize)
    os.truncate(path, 10)


def _delete_metadata(step_dir: pathlib.Path) -> None:
    (step_dir / "data" / "metadata").unlink()


def _delete_manifest(step_dir: pathlib.Path) -> None:
    (step_dir / "state" / "manifest.ocdbt").unlink()


@pytest.mark.parametrize(
    "damage", [_truncate_largest_array_file, _delete_metadata, _delete_manifest]
)
def test_damaged_newest_checkpoint_is_skipped(three_checkpoints, damage):
    damage(three_checkpoints / "3")
    warnings = []
    ckpt = run_checkpoints.TrainCheckpointer(three_checkpoints, keep=10)
    step, state, data = ckpt.restore_latest(_abstract(), warn=warnings.append)
    assert step == 2 and data == {"step": 2}
    np.testing.assert_array_equal(state["a"], np.arange(1000.0) + 2)
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert f"Checkpoint 3 ({three_checkpoints / '3'}) is damaged" in warnings[0]
    # Set aside, so the resumed run can save step 3 again (and a restart won't retry it).
    assert (three_checkpoints / "3.damaged").is_dir() and ckpt.all_steps() == [1, 2]
    assert ckpt.save(3, _state(33), {"step": 3})
    ckpt.close()
    again = run_checkpoints.TrainCheckpointer(three_checkpoints, keep=10)
    step, state, _ = again.restore_latest(_abstract(), warn=warnings.append)
    assert step == 3 and float(state["b"][0, 0]) == 33.0 and len(warnings) == 1
    again.close()


def test_no_intact_checkpoint_is_one_line_error(three_checkpoints):
    for step in (1, 2, 3):
        _truncate_largest_array_file(three_checkpoints / str(step))
    ckpt = run_checkpoints.TrainCheckpointer(three_checkpoints, keep=10)
    warnings = []
    with pytest.raises(InputError) as err:
        ckpt.restore_latest(_abstract(), warn=warnings.append)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"no intact checkpoint in {three_checkpoints}")
    assert all(f"step {s}: ValueError: OUT_OF_RANGE" in msg for s in (1, 2, 3))
    assert len(warnings) == 3
    assert sorted(p.name for p in three_checkpoints.iterdir()) == ["1", "2", "3"]  # untouched
    ckpt.close()


def test_empty_directory_restores_nothing(tmp_path):
    ckpt = run_checkpoints.TrainCheckpointer(tmp_path / "checkpoints")
    assert ckpt.restore_latest(_abstract()) is None
    ckpt.close()


def test_unfinished_folders_of_killed_runs_are_removed(three_checkpoints):
    unfinished = three_checkpoints / "4.orbax-checkpoint-tmp"
    (unfinished / "state").mkdir(parents=True)
    (unfinished / "state" / "manifest.ocdbt").write_bytes(b"half")
    stray = three_checkpoints / "5.orbax-checkpoint-tmp-1718000000"
    stray.write_text("")
    assert run_checkpoints.remove_unfinished(three_checkpoints) == [unfinished, stray]
    assert sorted(p.name for p in three_checkpoints.iterdir()) == ["1", "2", "3"]
    assert run_checkpoints.remove_unfinished(three_checkpoints / "absent") == []


def test_training_removes_unfinished_folders_before_restoring(tmp_path, monkeypatch, caplog):
    """train_and_evaluate cleans up (one log line) before it opens the checkpoints (stopped
    there: nothing is compiled)."""
    unfinished = tmp_path / "checkpoints" / "4.orbax-checkpoint-tmp"
    unfinished.mkdir(parents=True)

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(run_checkpoints, "TrainCheckpointer", stop)
    config = tiny.get_config()
    config.data.root = str(tmp_path / "data")
    with caplog.at_level("INFO"), pytest.raises(Stop):
        train_loop.train_and_evaluate(config, tmp_path)
    assert not unfinished.exists()
    lines = [r.getMessage() for r in caplog.records if "unfinished" in r.getMessage()]
    assert len(lines) == 1 and str(unfinished) in lines[0]


def _fail_json_writes(monkeypatch):
    """The iterator state's file write fails in the background save, as on a full disk."""

    async def no_space(self, x, directory):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ocp.JsonCheckpointHandler, "_save_fn", no_space)


def test_failed_background_save_stops_with_cause_and_last_good_step(tmp_path, monkeypatch):
    directory = tmp_path / "checkpoints"
    ckpt = run_checkpoints.TrainCheckpointer(directory, keep=10)
    ckpt.save(1, _state(1), {"step": 1})
    ckpt.wait()
    _fail_json_writes(monkeypatch)
    ckpt.save(2, _state(2), {"step": 2})
    # `check` is what the loop calls after every step: it raises once the write has ended.
    deadline = time.time() + 60
    with pytest.raises(InputError) as err:
        while time.time() < deadline:
            ckpt.check()
            time.sleep(0.01)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"saving checkpoint 2 in {directory} failed" in msg
    assert "No space left on device" in msg
    assert f"the last good checkpoint is step 1 ({directory / '1'})" in msg
    ckpt.close()  # quiet: the error was raised already


def test_failed_save_surfaces_at_the_next_save_or_close(tmp_path, monkeypatch):
    directory = tmp_path / "checkpoints"
    _fail_json_writes(monkeypatch)
    ckpt = run_checkpoints.TrainCheckpointer(directory, keep=10)
    ckpt.save(1, _state(1), {"step": 1})
    with pytest.raises(InputError, match="checkpoint 1 .* no checkpoint of this run is complete"):
        ckpt.save(2, _state(2), {"step": 2})
    ckpt.close()
    ckpt = run_checkpoints.TrainCheckpointer(tmp_path / "other", keep=10)
    ckpt.save(1, _state(1), {"step": 1})
    with pytest.raises(InputError, match="saving checkpoint 1 .*No space left on device"):
        ckpt.close()


def test_save_check_costs_microseconds(tmp_path):
    """The per-step `check` is a flag read while no save is pending and while one runs."""
    ckpt = run_checkpoints.TrainCheckpointer(tmp_path / "checkpoints")
    start = time.perf_counter()
    for _ in range(1000):
        ckpt.check()
    assert (time.perf_counter() - start) / 1000 < 1e-4
    ckpt.save(1, _state(1), {"step": 1})
    calls, start = 0, time.perf_counter()
    while ckpt.manager.is_saving_in_progress():
        ckpt.check()
        calls += 1
    assert (time.perf_counter() - start) / max(calls, 1) < 1e-3
    ckpt.close()


# ------------------------------------------------------------------------------------------------
# Config validated up front.


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("train.checkpoint_every", 0, "must be a positive integer"),
        ("train.log_every", -5, "must be a positive integer"),
        ("train.epochs", 0, "must be a positive integer"),
        ("train.batch_per_device", 0, "must be a positive integer"),
        ("train.keep_checkpoints", 0, "must be a positive integer"),
        ("eval.interval", 0, "must be a positive integer"),
        ("eval.every_steps", -1, "must be an integer >= 0"),
        ("optim.lr", -1e-4, "must be a number >= 0"),
        ("optim.accumulation_steps", 0, "must be a positive integer"),
        ("data.sample_lengths", (), "must be a non-empty list of positive integers"),
        ("data.hflip_prob", 1.5, "must be a number in [0, 1]"),
        ("model.query_updater", "mamba", "must be one of 'samba' | 'memotr'"),
        ("model.dtype", "float16", "must be one of 'float32' | 'bfloat16'"),
        ("model.ms_deform_attn_impl", "cuda", "must be one of '' | 'xla' | 'pallas'"),
        ("data.dataset", "KITTI", "must be one of BDD100K | BFT"),
        ("mesh.data", 0, "must be a positive integer (or -1)"),
    ],
)
def test_invalid_field_fails_before_anything_is_built(tmp_path, field, value, problem):
    config = tiny.get_config()
    section, name = field.split(".")
    config[section][name] = value
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        train_loop.train_and_evaluate(config, tmp_path / "run")
    assert time.perf_counter() - start < 2
    assert str(err.value).startswith(f"config.{field}={value!r}: {problem}")
    assert not (tmp_path / "run").exists()


def test_all_problems_in_one_line():
    config = tiny.get_config()
    config.train.checkpoint_every = 0
    config.optim.lr = -1.0
    with pytest.raises(InputError) as err:
        config_checks.check_config(config)
    assert str(err.value) == (
        "config.train.checkpoint_every=0: must be a positive integer; "
        "config.optim.lr=-1.0: must be a number >= 0"
    )


def test_sections_for_eval_and_track():
    config = tiny.get_config()
    config.train.checkpoint_every = 0  # not read by eval.py / track.py
    config_checks.check_config(config, ("model", "tracker", "eval"))
    config.tracker.max_tracks_limit = 2
    with pytest.raises(InputError, match=r"config.tracker.max_tracks_limit=2: must be >= "):
        config_checks.check_config(config, ("model", "tracker", "eval"))


def test_every_shipped_config_is_valid():
    import importlib  # noqa: PLC0415

    names = sorted(p.stem for p in (REPO / "configs").glob("*.py") if p.stem != "__init__")
    for name in names:
        module = importlib.import_module(f"configs.{name}")
        assert config_checks.config_problems(module.get_config()) == [], name
