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


def pytest_configure(config: pytest.Config) -> None:
    global _owned_cache_dir
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
_UNIT_PER_PARAM = ("test_train_step_parity.py", "test_tracker_fixture.py")
# Modules that are one unit (a module-scoped fixture, or one compilation cache entry that the
# first test fills and the next ones read).
_UNIT_PER_MODULE = (
    "test_train_resume.py",
    "test_train_step.py",
    "test_detector.py",
    "test_tracker_tiny.py",
    "test_data_pipeline.py",
    "test_bdd100k.py",
    "test_teta.py",
)
# Slowest first. Durations in seconds on the shared 2-core machine (load average ~6), each module
# run alone (`pytest tests/X.py`, 2026-11-23, after the persistent compilation cache and the
# numpy-noise setup of test_train_step); "*": from the earlier full run (load ~3x higher), scaled
# by the ratio of its test_train_step time to the one here. In a full run the cache also shares
# programs between modules: test_tracker_tiny's model init with test_train_step's, the resume
# runs' init with the sharding test's single-device run.
_SLOW_FIRST = (
    "test_train_sharding.py::test_eight_devices_equal_one_device",  # ~330 (4 compiles)
    "test_train_step.py",  # ~270 (was ~575: eager jax.random noise in the setup)
    "test_bdd100k_tracking.py::test_train_then_eval_multiclass_synthetic_as_bdd100k",  # <~250
    "test_train_resume.py",  # ~230
    "test_train_loop.py::test_synthetic_config_end_to_end",  # ~170
    "test_train_step_parity.py[official_def_detr]",  # ~130*
    "test_train_step_parity.py[official_memotr_dab_detr]",  # ~110*
    "test_tracker_tiny.py",  # ~60 (was ~240: each capacity compiled twice; ~85 with capacity 64)
    "test_detector.py",  # ~55
    "test_end_to_end.py::test_convert_and_track_cli_reproduce_official_tracker_txt",  # ~50*
    "test_end_to_end.py::test_eval_on_synthetic_with_tiny_checkpoint",  # ~45*
    "test_detector_parity.py::test_detector_matches_official[def_detr_fixture]",  # ~25*
    "test_detector_parity.py::test_detector_matches_official[memotr_dab_fixture]",  # ~25*
    "test_tracker_fixture.py[official_memotr_dab_detr]",  # ~15*
    "test_tracker_fixture.py[official_def_detr]",  # ~15*
)


def _unit(nodeid: str) -> str:
    """The work unit of a test id ("tests/test_x.py::test_y[param]")."""
    path, _, name = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1]
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
