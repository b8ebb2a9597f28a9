"""One training run per workdir: an exclusive `fcntl.flock` on `<workdir>/.lock`, held for the run.

Two runs on one workdir would delete each other's temporary checkpoint folders and interleave
metrics.jsonl, so the second one stops at once with an `InputError` naming the workdir and the
process that holds it. The lock file holds that process's pid, host and start time (JSON) for
the message. The kernel releases a flock when its process exits in any way (SIGKILL included), so
a killed run's lock file is no obstacle: the next run takes the lock and overwrites the file.

Multi-process runs (several JAX processes sharing a workdir): each process locks its own file,
`.lock` for process 0 and `.lock.process_<k>` for process k. No process waits for another, so
nothing can deadlock, and every process of a second run on the same workdir fails at once (not
only its process 0, which would leave the others waiting for it in a collective). On a shared
filesystem the lock works across hosts where the filesystem supports flock (NFSv4, Lustre with
flock enabled); elsewhere it still stops a second run on the same host.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import socket
import time

import jax

from sambamotr_jax.formats.errors import InputError

LOCK_FILE = ".lock"


def lock_path(workdir: pathlib.Path, process_index: int) -> pathlib.Path:
    """`.lock` for process 0, `.lock.process_<k>` for process k."""
    name = LOCK_FILE if process_index == 0 else f"{LOCK_FILE}.process_{process_index}"
    return pathlib.Path(workdir) / name


def _holder(fd: int) -> str:
    """'pid N on HOST since TIME' from the lock file, as far as it can be read."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if "pid" not in info:
        return "a process that has not written its pid yet"
    since = f" since {info['started']}" if "started" in info else ""
    return f"pid {info['pid']} on {info.get('host', '?')}{since}"


class WorkdirLock:
    """Context manager: holds the workdir's lock from `__enter__` to `__exit__`.

    Raises (on enter):
      InputError: another process holds the lock (the message names it).
    """

    def __init__(self, workdir: str | pathlib.Path, process_index: int | None = None):
        self.workdir = pathlib.Path(workdir).absolute()
        index = jax.process_index() if process_index is None else process_index
        self.path = lock_path(self.workdir, index)
        self._fd: int | None = None

    def acquire(self) -> None:
        # Opened without truncation: the holder's pid stays readable for the message.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise InputError(
                f"{self.workdir} is in use by another training run ({holder}; lock file "
                f"{self.path}): wait for it to finish or stop it, or use another --workdir"
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Unlocks; the file stays (removing it would race with a process that just opened it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> WorkdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
