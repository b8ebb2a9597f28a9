"""Multi-process settings: checked before anything starts, each mistake in one line."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.runtime import distributed

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_parse_address_and_loopback():
    assert distributed.parse_address("10.0.0.1:1234") == ("10.0.0.1", 1234)
    assert distributed.parse_address("node-7:8476") == ("node-7", 8476)
    assert distributed.parse_address("[::1]:80") == ("::1", 80)
    for bad in ("10.0.0.1", ":1234", "host:", "host:x", "host:0", "host:70000"):
        with pytest.raises(InputError, match="expected HOST:PORT"):
            distributed.parse_address(bad)
    assert distributed.is_loopback("127.0.0.1") and distributed.is_loopback("localhost")
    assert distributed.is_loopback("::1") and distributed.is_loopback("127.0.1.1")
    assert not distributed.is_loopback("10.0.0.1") and not distributed.is_loopback("node-7")


@pytest.mark.parametrize(
    "settings, message",
    [
        (("127.0.0.1:1234", 2, None), "--process_id missing"),
        ((None, None, 0), "--coordinator_address and --num_processes missing"),
        (("127.0.0.1:1234", 0, 0), "--num_processes=0: must be >= 1"),
        (("127.0.0.1:1234", 2, 2), r"--process_id=2: must be in 0\.\.1"),
        (("127.0.0.1:1234", 2, -1), r"--process_id=-1: must be in 0\.\.1"),
        (("127.0.0.1", 2, 0), "expected HOST:PORT"),
    ],
)
def test_bad_settings(settings, message):
    with pytest.raises(InputError, match=message):
        distributed.check_settings(*settings)
    with pytest.raises(InputError, match=message):
        distributed.initialize(*settings)


def test_nothing_given_is_one_process():
    assert distributed.initialize() is False


def test_free_loopback_port():
    assert 0 < distributed.free_loopback_port() < 65536


def test_train_cli_reports_a_bad_process_id_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "train.py", "--config=configs/tiny.py", f"--workdir={tmp_path}"]
        + ["--coordinator_address=127.0.0.1:1234", "--num_processes=2", "--process_id=2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "train.py: error: --process_id=2: must be in 0..1 (--num_processes=2)"
    )
