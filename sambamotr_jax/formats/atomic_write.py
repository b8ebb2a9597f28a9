"""Writing a text file so that readers never see a partial one."""

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
