"""Shared test configuration: locating the official fixtures in ../shared.

Fixture-backed tests skip with a clear reason when ../shared is absent, except under CI=true,
where a missing fixture is an error.
"""

from __future__ import annotations

import os
import pathlib

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
# Scheduling under pytest-xdist (`-n 2`, `--dist loadgroup` in pyproject.toml).
#
# Almost all of the suite's time is XLA compilation of a few large programs. Two rules keep the
# two workers busy without compiling anything twice:
# - tests that share a module-scoped fixture (one compiled run that several tests read) or one
#   persistent compilation cache entry run on one worker: an `xdist_group` per module, or per
#   fixture parameter where each parameter is its own compiled run;
# - the slow groups are handed out first, slowest first, so the two slowest are not queued behind
#   each other at the end of the run.

# Modules whose tests share compiled work, grouped per parameter of their module-scoped fixture
# `run` (one compiled run per official fixture).
_GROUP_PER_PARAM = ("test_train_step_parity.py", "test_tracker_fixture.py")
# Modules grouped as a whole (a module-scoped fixture, or one compilation cache entry that the
# first test fills and the next ones read).
_GROUP_PER_MODULE = (
    "test_train_resume.py",
    "test_train_step.py",
    "test_detector.py",
    "test_tracker_tiny.py",
    "test_data_pipeline.py",
    "test_bdd100k.py",
    "test_teta.py",
)
# Slowest first (measured on the 2-core CI machine): group names or node ids.
_SLOW_FIRST = (
    "test_train_sharding.py::test_eight_devices_equal_one_device",
    "test_train_step_parity.py[official_def_detr]",
    "test_train_step_parity.py[official_memotr_dab_detr]",
    "test_train_loop.py::test_synthetic_config_end_to_end",
    "test_train_resume.py",
    "test_bdd100k_tracking.py::test_train_then_eval_multiclass_synthetic_as_bdd100k",
    "test_tracker_fixture.py[official_def_detr]",
    "test_tracker_fixture.py[official_memotr_dab_detr]",
    "test_detector_parity.py::test_detector_matches_official[def_detr_fixture]",
    "test_detector_parity.py::test_detector_matches_official[memotr_dab_fixture]",
    "test_end_to_end.py::test_convert_and_track_cli_reproduce_official_tracker_txt",
    "test_train_step.py",
)


def _group(item: pytest.Item) -> str | None:
    module = item.path.name
    if module in _GROUP_PER_PARAM and hasattr(item, "callspec"):
        return f"{module}[{item.callspec.params['run']}]"
    if module in _GROUP_PER_MODULE:
        return module
    return None


def pytest_configure(config: pytest.Config) -> None:
    # Keep the order given below (xdist otherwise sorts groups by their number of tests).
    config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {}
    for item in items:
        group = _group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
        name = group or f"{item.path.name}::{item.name}"
        rank[item.nodeid] = _SLOW_FIRST.index(name) if name in _SLOW_FIRST else len(_SLOW_FIRST)
    items.sort(key=lambda item: rank[item.nodeid])  # stable: the rest keep collection order
