"""The one error type for a missing or malformed input: a file, a folder, a line, a setting.

Every reader in `sambamotr_jax.formats` (and every layer above that checks its inputs) raises
`InputError` with a message that names the place and says what to do:

    path/to/gt.txt:12: 5 columns, at least 9 needed in line '1,2,3,4,5'; ...

The command-line entry points (`sambamotr_jax.runtime.cli`) print it as one line and exit with
status 2.
"""

from __future__ import annotations

import os


class InputError(ValueError):
    """A missing or malformed input (file, folder, line); the message says which and what to do."""


def at(path: str | os.PathLike, line: int | None = None) -> str:
    """'path' or 'path:line', the prefix of an InputError message."""
    return f"{os.fspath(path)}" if line is None else f"{os.fspath(path)}:{line}"
