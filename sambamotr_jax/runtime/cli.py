"""One way for a command-line entry point to fail: one line on stderr, a known exit status.

Every entry point (train.py, eval.py, `python -m sambamotr_jax.{convert,track,demo}`,
`python -m data_pipeline.{synthetic_mot,prepare}`) runs its main through `run`:

    if __name__ == "__main__":
        cli.run(lambda argv: app.run(main, argv=argv), prog="eval.py")

- An `InputError` (a missing or malformed file, folder, line or setting) prints exactly one
  line `PROG: error: MESSAGE` to stderr and exits with status 2.
- A `Failure` (the run itself went wrong in a way the user can act on, e.g. a non-finite loss)
  prints one line the same way and exits with status 1.
- `--debug` (taken out of argv before the main sees it) also prints the traceback.
- Library INFO logs (Orbax, tfds, grain, absl itself) stay out of the output unless the
  command line passes absl's `--verbosity` / `-v`; the CLI's own messages are kept.

Flag-parsing errors are the flag parser's (absl, argparse): one message, their own status.
This module imports only the standard library and `sambamotr_jax.formats`.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from sambamotr_jax.formats.errors import InputError

# Code under these folders logs through absl / Python logging at INFO many times per run.
_NOISY_LIBRARIES = ("orbax", "tensorflow_datasets", "grain", "absl", "etils", "jax")


class Failure(Exception):
    """A failed run to report in one line (exit status 1), not an input problem."""


class _QuietLibraries(logging.Filter):
    """Drops records below WARNING whose code lives in one of `_NOISY_LIBRARIES`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        parts = record.pathname.replace(os.sep, "/").split("/")
        return not any(name in parts for name in _NOISY_LIBRARIES)


def asks_for_verbosity(argv: Sequence[str]) -> bool:
    """True when the command line sets absl's verbosity (`--verbosity`, `-v`)."""
    return any(
        arg in ("-v", "--verbosity") or arg.startswith(("--verbosity=", "-v=")) for arg in argv[1:]
    )


def quiet_library_logs() -> None:
    """Keeps the libraries' INFO records out of the output (warnings pass): those logged through
    absl (filtered by the file that logs them) and those of their own Python loggers."""
    logging.getLogger("absl").addFilter(_QuietLibraries())
    for name in _NOISY_LIBRARIES:
        if name != "absl" and logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)


def run(main: Callable[[list[str]], object], *, prog: str, argv: Sequence[str] | None = None):
    """Runs `main(argv)` (argv without `--debug`) and turns the errors it raises into one line.

    Args:
      main: the entry point's main, given argv with `--debug` removed (it may call absl's
        `app.run(..., argv=argv)` or `argparse` on `argv[1:]`).
      prog: the name printed before `: error:` (`train.py`, `python -m sambamotr_jax.track`).
      argv: the command line; default `sys.argv`.

    Returns what `main` returns (absl's app.run exits the process itself).
    """
    argv = list(sys.argv if argv is None else argv)
    debug = "--debug" in argv[1:]
    argv = argv[:1] + [a for a in argv[1:] if a != "--debug"]
    if not asks_for_verbosity(argv):
        quiet_library_logs()
    try:
        return main(argv)
    except (InputError, Failure) as err:
        if debug:
            traceback.print_exc()
        message = " ".join(str(err).split("\n"))
        print(f"{prog}: error: {message}", file=sys.stderr)
        sys.exit(2 if isinstance(err, InputError) else 1)
