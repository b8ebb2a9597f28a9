"""One way for a command-line entry point to fail: one line on stderr, a known exit status.

Every entry point (train.py, eval.py, `python -m sambamotr_jax.{convert,track,demo}`,
`python -m data_pipeline.{synthetic_mot,prepare}`, the `sambamotr-*` console scripts) runs its
main through `run`; an absl main does it through `run_absl`, which names the program as the user
called it (`train.py`, `python -m sambamotr_jax.track`, `sambamotr-track`):

    def run():  # the console script's entry point
        cli.run_absl(main, module=__name__, doc=__doc__)

- An `InputError` (a missing or malformed file, folder, line or setting) prints exactly one
  line `PROG: error: MESSAGE` to stderr and exits with status 2.
- An `OSError` (a path that cannot be read or written, a full disk) is reported the same way:
  its message names the file.
- A `Failure` (the run itself went wrong in a way the user can act on, e.g. a non-finite loss)
  prints one line the same way and exits with status 1.
- `--debug` (taken out of argv before the main sees it) also prints the traceback.
- Library INFO logs (Orbax, tfds, grain, absl itself) stay out of the output unless the
  command line passes absl's `--verbosity` / `-v`; the CLI's own messages are kept.

- A bad command line (an unknown `--config.X` field, a value of the wrong type, a `--config`
  file that is missing or does not load) is an input error too: one line, status 2. Errors
  absl reports itself (an unknown flag) keep absl's one message and status.

This module imports only the standard library, `sambamotr_jax.formats` and (lazily) absl.
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
        _fail(prog, str(err), 2 if isinstance(err, InputError) else 1, debug)
    except OSError as err:
        # A path that cannot be read or written, a full disk: the message names the file.
        message = command_line_error(err)  # a --config file that does not load
        if message is None:
            message = f"{err}; check the path, its permissions and the free space"
        _fail(prog, message, 2, debug)
    except Exception as err:
        message = command_line_error(err)
        if message is None:
            raise
        _fail(prog, message, 2, debug)


def _fail(prog: str, message: str, status: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    message = " ".join(message.split())
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(status)


def command_line_error(err: BaseException) -> str | None:
    """The one-line message for a `--config` file that does not load, else None.

    ml_collections reads the config file lazily, at the first `.value`, so this error comes
    after flag parsing (whose own errors `_parse_flags` reports).
    """
    frames = [f.filename.replace(os.sep, "/") for f in traceback.extract_tb(err.__traceback__)]
    if not any("/ml_collections/config_flags/" in f for f in frames):
        return None
    cause = err.__cause__ or err.__context__
    return f"--config: {cause or err}; check the config file path and that it loads"


def prog_name(module: str, argv0: str | None = None) -> str:
    """The program as the user ran it: `python -m MODULE` when argv[0] is MODULE's own file,
    else argv[0]'s file name (`train.py`, `sambamotr-track`)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if argv0.replace(os.sep, "/").endswith("/" + module.replace(".", "/") + ".py"):
        return f"python -m {module}"
    return os.path.basename(argv0) or module


def run_absl(main: Callable[[list[str]], object], *, module: str, doc: str | None = None):
    """`run` for an absl main: `app.run(main)` under the program name `prog_name(module)`.

    `--help` (and absl's other help flags) exit with status 0. A flag that does not parse (an
    unknown flag, a bad value, a `--config.X` override of a field the config lacks) is one line
    `PROG: error: ...` with status 2, like every input error. `doc` (the entry module's
    docstring) becomes the `--help` text also when a console script or a shim script is the
    `__main__` module (absl prints `__main__.__doc__`).
    """
    from absl import app  # noqa: PLC0415

    main_module = sys.modules.get("__main__")
    if doc and main_module is not None:
        main_module.__doc__ = doc
    prog = prog_name(module)

    def run_app(argv: list[str]):
        try:
            return app.run(main, argv=argv, flags_parser=lambda a: _parse_flags(a, prog))
        except SystemExit as done:
            # absl exits with status 1 after printing the help a user asked for.
            if done.code == 1 and any(arg.split("=")[0] in _HELP_FLAGS for arg in argv[1:]):
                sys.exit(0)
            raise

    return run(run_app, prog=prog)


def _parse_flags(argv: list[str], prog: str) -> list[str]:
    """absl's flag parsing, its errors as one line with status 2."""
    from absl import flags  # noqa: PLC0415

    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        _fail(prog, f"{err}; pass --helpfull to list the flags", 2, "--debug" in argv)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        message = err
        while isinstance(message, BaseException) and message.args:
            message = message.args[0]  # ml_collections nests the KeyError with its hint
        _fail(
            prog,
            f"bad --config override: {message}; the fields are those of the config file "
            "(and configs/common.py)",
            2,
            False,
        )


_HELP_FLAGS = ("--help", "-help", "-?", "--helpshort", "--helpfull", "--helpxml")
