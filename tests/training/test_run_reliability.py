"""Nothing lost, nothing silent: one run per workdir (lock), config validated up front.

Cheap: no model compiled.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from configs import tiny
from sambamotr_jax.formats.mot_text import InputError
from sambamotr_jax.training import config_checks, train_loop, workdir_lock

REPO = pathlib.Path(__file__).resolve().parents[2]


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
