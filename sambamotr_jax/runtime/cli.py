"""One way for a command-line entry point to fail: one line on stderr, a known exit status.

Every entry point (train.py, eval.py, `python -m sambamotr_jax.{convert,track,demo}`,
`python -m data_pipeline.{synthetic_mot,prepare}`, the `sambamotr-*` console scripts) runs its
main through `run`; an absl main does it through `run_absl`, which names the program as the user
called it (`train.py`, `python -m sambamotr_jax.track`, `sambamotr-track`):

    def run():  # the console script's entry point
        cli.run_absl(main, module=__name__, doc=__doc__)

- An `InputError` (a missing or malformed file, folder, line or setting) prints exactly one
  line `PROG: error: MESSAGE` to stderr and exits with status 2.
- A `Failure` (the run itself went wrong in a way the user can act on, e.g. a non-finite loss)
  prints one line the same way and exits with status 1.
- `--debug` (taken out of argv before the main sees it) also prints the traceback.
- Library INFO logs (Orbax, tfds, grain, absl itself) stay out of the output unless the
  command line passes absl's `--verbosity` / `-v`; the CLI's own messages are kept.

Flag-parsing errors are the flag parser's (absl, argparse): one message, their own status.
This module imports only the standard library, `sambamotr_jax.formats` and (in `run_absl`) absl.
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


def prog_name(module: str, argv0: str | None = None) -> str:
    """The program as the user ran it: `python -m MODULE` when argv[0] is MODULE's own file,
    else argv[0]'s file name (`train.py`, `sambamotr-track`)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if argv0.replace(os.sep, "/").endswith("/" + module.replace(".", "/") + ".py"):
        return f"python -m {module}"
    return os.path.basename(argv0) or module


def run_absl(
    main: Callable[[list[str]], object],
    *,
    module: str,
    doc: str | None = None,
    flags_parser: Callable[[list[str]], list[str]] | None = None,
):
    """`run` for an absl main: `app.run(main)` under the program name `prog_name(module)`;
    `--help` (and absl's other help flags) exit with status 0.

    `doc` (the entry module's docstring) becomes the `--help` text also when a console script or
    a shim script is the `__main__` module (absl prints `__main__.__doc__`).
    """
    from absl import app  # noqa: PLC0415

    main_module = sys.modules.get("__main__")
    if doc and main_module is not None:
        main_module.__doc__ = doc
    parser = {} if flags_parser is None else {"flags_parser": flags_parser}

    def run_app(argv: list[str]):
        try:
            return app.run(main, argv=argv, **parser)
        except SystemExit as done:
            # absl exits with status 1 after printing the help a user asked for.
            if done.code == 1 and any(arg.split("=")[0] in _HELP_FLAGS for arg in argv[1:]):
                sys.exit(0)
            raise

    return run(run_app, prog=prog_name(module))


_HELP_FLAGS = ("--help", "-help", "-?", "--helpshort", "--helpfull", "--helpxml")
