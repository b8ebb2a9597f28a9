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
