"""write_text_atomic: the whole new file or the old one, never a partial one."""

from __future__ import annotations

import os

import pytest

from sambamotr_jax.formats.atomic_write import write_text_atomic


def test_write_text_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out" / "seq.txt"
    write_text_atomic(path, ["a\n", "b\n"])
    write_text_atomic(path, ["c\n"])
    assert path.read_text() == "c\n"

    def failing_lines():
        yield "partial\n"
        raise RuntimeError("tracker crashed")

    with pytest.raises(RuntimeError, match="tracker crashed"):
        write_text_atomic(path, failing_lines())
    assert path.read_text() == "c\n"
    assert os.listdir(path.parent) == ["seq.txt"]
