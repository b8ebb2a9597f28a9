"""Writing a text file so that readers never see a partial one, and where the results of a
run that stopped early go (`<file>.partial`, never `<file>`)."""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Iterable


def write_text_atomic(path: str | os.PathLike, lines: Iterable[str]) -> None:
    """Writes `lines` to `path` through a temporary file in the same folder and a rename, so
    `path` is either absent, the old file, or the complete new file, never a partial one."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | os.PathLike) -> pathlib.Path:
    """`<path>.partial`: where `write_partial` puts the results of a run that stopped early."""
    path = pathlib.Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def write_partial(path: str | os.PathLike, lines: Iterable[str]) -> pathlib.Path:
    """Writes the lines of a run that stopped early to `<path>.partial` (atomically) and removes
    `path`, so that no file at `path` looks complete; returns the `.partial` path."""
    partial = partial_path(path)
    write_text_atomic(partial, lines)
    pathlib.Path(path).unlink(missing_ok=True)
    return partial
