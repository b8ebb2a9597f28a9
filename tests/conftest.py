"""Shared test configuration: locating the official fixtures in ../shared.

Fixture-backed tests skip with a clear reason when ../shared is absent, except under CI=true,
where a missing fixture is an error.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys
import tempfile

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("SAMBAMOTR_SHARED", REPO_ROOT.parent / "shared"))


def shared_path(*parts: str) -> pathlib.Path:
    """Path under ../shared; skips the test (fails under CI=true) when it does not exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        msg = f"{path} not found: official fixtures live in ../shared beside the repository"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (required under CI=true)")
        pytest.skip(msg)
    return path


@pytest.fixture
def def_detr_fixture() -> pathlib.Path:
    return shared_path("fixtures", "official_def_detr")


@pytest.fixture
def memotr_dab_fixture() -> pathlib.Path:
    return shared_path("fixtures", "official_memotr_dab_detr")


@pytest.fixture
def reference_dir() -> pathlib.Path:
    return shared_path("reference")


# ------------------------------------------------------------------------------------------------
# One persistent JAX compilation cache per test session.
#
# The same program is often compiled by several processes of one session: the subprocess runs of
# train.py in the resume/sharding/train-loop tests (an uninterrupted run, a killed run and its
# restart compile the identical step), jitted functions rebuilt per object (each `api.Tracker`
# compiles its own frame step), the two xdist workers. A cache only skips compilation: the program
# that runs is the same. The directory is made by the session's first process (the xdist
# controller, whose environment the workers inherit) and removed when that process ends; it
# reaches every subprocess through os.environ.

_CACHE_DIR_VAR = "SAMBAMOTR_TEST_COMPILATION_CACHE"
_owned_cache_dir: str | None = None


# XLA:CPU compiles the suite's programs with LLVM optimization off (`-O0` code generation; the
# HLO passes, and so the arithmetic, are unchanged): almost all of the suite's time is compiling
# programs that then run for a few steps on tiny inputs. The tiny config's train step: 36 -> 23 s
# to compile, 0.71 -> 0.78 s to run, the same loss to the last printed digit.
# SAMBAMOTR_TEST_FULL_XLA_OPT=1 keeps XLA's default (optimized) code generation.
_TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"


def pytest_configure(config: pytest.Config) -> None:
    global _owned_cache_dir
    if os.environ.get("SAMBAMOTR_TEST_FULL_XLA_OPT", "") not in ("1", "true"):
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_backend_optimization_level" not in flags:
            # Read when the first jax backend starts, and inherited by the tests' subprocesses.
            os.environ["XLA_FLAGS"] = f"{flags} {_TEST_XLA_FLAGS}".strip()
    # The entry scripts restart themselves once to set glibc's malloc tunables
    # (runtime/malloc_pad.configure); the same settings here spare every subprocess that restart.
    # tests/runtime/test_host_memory.py runs the restart itself.
    from sambamotr_jax.runtime import malloc_pad

    os.environ.setdefault("GLIBC_TUNABLES", malloc_pad.HOST_MEMORY_TUNABLES)
    if _CACHE_DIR_VAR not in os.environ:
        _owned_cache_dir = tempfile.mkdtemp(prefix="sambamotr_jax_cache_")
        os.environ[_CACHE_DIR_VAR] = _owned_cache_dir
    os.environ.update(
        JAX_COMPILATION_CACHE_DIR=os.environ[_CACHE_DIR_VAR],
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    if "jax" in sys.modules:  # imported before this conftest: the environment was read already
        jax = sys.modules["jax"]
        jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_DIR_VAR])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _owned_cache_dir is not None:
        shutil.rmtree(_owned_cache_dir, ignore_errors=True)
        os.environ.pop(_CACHE_DIR_VAR, None)


# ------------------------------------------------------------------------------------------------
# Scheduling under pytest-xdist (`-n 2`).
#
# Almost all of the suite's time is XLA compilation of a few large programs. Two rules keep the
# two workers busy without compiling anything twice:
# - tests that share a module-scoped fixture (one compiled run that several tests read) or one
#   persistent compilation cache entry run on one worker: one work unit per module, or per
#   fixture parameter where each parameter is its own compiled run;
# - the slow units are handed out first, slowest first, so that no slow test starts late.
# The units are made by our own xdist scheduler: `--dist loadgroup` does not group under pytest 9
# (xdist 3.8 tags a test's group by rewriting `item._nodeid`, which pytest 9 no longer reads).

# Modules whose tests share compiled work, one unit per parameter of their module-scoped fixture
# `run` (one compiled run per official fixture).
_UNIT_PER_PARAM = (
    "test_train_step_parity.py",
    "test_tracker_fixture.py",
    "test_export_serve.py",
    "test_track_streams.py",
)
# Modules that are one unit (a module-scoped fixture, or one compilation cache entry that the
# first test fills and the next ones read).
_UNIT_PER_MODULE = (
    "test_multiprocess_training.py",
    "test_multiprocess_eval.py",
    "test_train_resume.py",
    "test_train_step.py",
    "test_detector.py",
    "test_tracker_tiny.py",
    "test_supervision_tracker.py",
    "test_video_cli.py",
    "test_data_pipeline.py",
    "test_bdd100k.py",
    "test_teta.py",
)
# Modules that join another module's unit: they share its session-scoped run (training/conftest.py:
# the 8-device train.py run that both modules compare against).
_JOINS_UNIT = {"test_train_sharding.py": "test_multiprocess_training.py"}
# Slowest first. Seconds in a full `-n 2` run on the 2-core Intel Xeon machine (2026-11-24,
# compiled at LLVM -O0 as above); a unit's tests summed.
_SLOW_FIRST = (
    # ~620 (busy machine, 2026-12-07: 3 runs + a killed one), with test_train_sharding.py
    "test_multiprocess_training.py",
    "test_train_step.py",  # ~280 (6 compiles of the tiny clip step, ~55 s each)
    "test_train_resume.py",  # ~200
    "test_bdd100k_tracking.py::test_train_then_eval_multiclass_synthetic_as_bdd100k",  # ~130
    "test_export_serve.py[official_def_detr]",  # ~160 (alone on a busy machine, 2026-12-07)
    "test_train_step_parity.py[official_def_detr]",  # ~125 (optimized: runs a ResNet-50)
    "test_train_loop.py::test_synthetic_config_end_to_end",  # ~115
    # 6 eval.py runs: 2 two-process, 2 on two forced host devices (~480 pinned to one busy core)
    "test_multiprocess_eval.py",
    "test_train_step_parity.py[official_memotr_dab_detr]",  # ~115
    "test_export_serve.py[official_memotr_dab_detr]",  # ~115
    "test_video_cli.py",  # ~105 (busy machine, 2026-12-07)
    "test_track_streams.py[official_memotr_dab_detr]",  # ~100 alone (836 on a busy core)
    "test_track_streams.py[official_def_detr]",  # ~86 (busy machine, 2026-12-07)
    "test_tracker_bfloat16.py::test_bfloat16_boxes_stay_close_to_float32_on_the_sambamotr_fixture",  # ~60
    "test_detector.py",  # ~55
    "test_track_to_file.py::test_truncated_frame_stops_tracking_and_keeps_the_frames_before_it",  # ~55
    "test_supervision_tracker.py",  # ~40
    "test_tracker_tiny.py",  # ~50
    "test_end_to_end.py::test_convert_and_track_cli_reproduce_official_tracker_txt",  # ~40
    "test_tracker_fixture.py[official_def_detr]",  # ~35
    "test_detector_parity.py::test_detector_matches_official[def_detr_fixture]",  # ~25
    "test_tracker_fixture.py[official_memotr_dab_detr]",  # ~25
    "test_end_to_end.py::test_eval_on_synthetic_with_tiny_checkpoint",  # ~20
    "test_detector_parity.py::test_detector_matches_official[memotr_dab_fixture]",  # ~20
)


def _unit(nodeid: str) -> str:
    """The work unit of a test id ("tests/test_x.py::test_y[param]")."""
    path, _, name = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1]
    if module in _JOINS_UNIT:
        return _JOINS_UNIT[module]
    if module in _UNIT_PER_PARAM and name.endswith("]"):
        return f"{module}[{name[name.index('[') + 1 : -1]}]"
    if module in _UNIT_PER_MODULE:
        return module
    return f"{module}::{name}"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`-n N`: load scheduling by the units above, in the order of `pytest_collection_modifyitems`."""
    if config.getoption("dist") != "load":  # an explicit --dist other than the default
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    config.option.loadscopereorder = False  # keep the order below (xdist sorts by unit size)
    return UnitScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(_SLOW_FIRST)}
    # Stable: the rest keep their collection order.
    items.sort(key=lambda item: rank.get(_unit(item.nodeid), len(_SLOW_FIRST)))
