"""Training checkpoints: Orbax `CheckpointManager` over `<workdir>/checkpoints/<step>/`.

Each checkpoint holds two items:
  state   the TrainState (params, buffers, optimizer state, step, RNG), `StandardSave`
  data    the input iterator's state ({"step": next batch}), `JsonSave`

Saves are asynchronous: `save` returns once the arrays are copied off the devices, the files are
written in the background, and a checkpoint directory appears (renamed from a temporary one) only
when complete, so a run killed at any moment leaves its last finished checkpoint intact. Every
process calls `save` and `restore` (Orbax coordinates the hosts).

Nothing lost, nothing silent:
  - `restore_latest` skips damaged checkpoints (a truncated array file, a missing metadata file:
    whatever makes Orbax's restore fail) with one warning line each, resumes from the newest
    intact one, and renames the damaged ones to `<step>.damaged` so the run can save those steps
    again; with none intact it raises a one-line `InputError` and changes nothing.
  - `remove_unfinished` deletes the temporary folders (`*.orbax-checkpoint-tmp*`) of killed runs.
  - A save that fails in the background (disk full, permission denied) raises an `InputError`
    naming the cause and the last good checkpoint as soon as the background write ends: `check`
    (non-blocking, called after every step) and `save`, `wait` and `close` all surface it.
"""

from __future__ import annotations

import logging
import pathlib
import shutil

import jax
import orbax.checkpoint as ocp

from sambamotr_jax.formats.errors import InputError

STATE, DATA = "state", "data"
TMP_MARK = ".orbax-checkpoint-tmp"  # Orbax names a step's folder `<step>.orbax-checkpoint-tmp*`
DAMAGED_SUFFIX = ".damaged"


def short_cause(err: BaseException, limit: int = 240) -> str:
    """`Type: first line` of an exception's root cause (TensorStore's `OUT_OF_RANGE: ... byte range
    [0, 2291) is not valid for value of size 10` rather than Orbax's wrapper), without the spec
    dump, at most `limit` characters."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    for cut in (" See full TensorStore details", " [tensorstore_spec", " [source locations"):
        text = text.split(cut)[0]
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def remove_unfinished(directory: str | pathlib.Path) -> list[pathlib.Path]:
    """Deletes the temporary checkpoint folders a killed run left in `directory`; returns them.

    Only for the process that holds the workdir lock: a running save's folder looks the same.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    found = sorted(p for p in directory.iterdir() if TMP_MARK in p.name)
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return found


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils  # noqa: PLC0415

        multihost_utils.sync_global_devices(name)


class TrainCheckpointer:
    """Keeps the last `keep` checkpoints of a run in `directory`."""

    def __init__(self, directory: str | pathlib.Path, *, keep: int = 3, async_save: bool = True):
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=async_save
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)
        self._pending: int | None = None  # the step of a save whose outcome is not known yet
        self._failed = False

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state, data_state: dict) -> bool:
        """Starts saving `state` and the iterator state as checkpoint `step` (returns at once)."""
        if step in self.manager.all_steps():
            return False
        if self._pending is not None:
            self._finish()  # Orbax waits for the previous save anyway; its error comes first
        self._pending = step
        try:
            return self.manager.save(
                step,
                args=ocp.args.Composite(
                    **{STATE: ocp.args.StandardSave(state), DATA: ocp.args.JsonSave(data_state)}
                ),
                force=True,
            )
        except Exception as err:
            self._pending = None
            raise self._save_error(step, err) from err

    def check(self) -> None:
        """Raises the error of a save whose background write has ended; returns at once while
        the write is running. Called after every step: a locked flag read, 0.05 us with no save
        pending and ~15 us while one runs (CPU, small pytree), against steps of 0.1 s and more.

        Raises:
          InputError: the save failed (the message names the cause and the last good step).
        """
        if self._pending is not None and not self.manager.is_saving_in_progress():
            self._finish()

    def _finish(self) -> None:
        step, self._pending = self._pending, None
        try:
            self.manager.wait_until_finished()
        except Exception as err:
            raise self._save_error(step, err) from err

    def _save_error(self, step: int, err: BaseException) -> InputError:
        self._failed = True
        good = [s for s in self.manager.all_steps() if s != step]
        last = (
            f"the last good checkpoint is step {max(good)} ({self.directory / str(max(good))}); "
            "fix the cause and run the same command again to resume from it"
            if good
            else "no checkpoint of this run is complete; fix the cause and run it again"
        )
        return InputError(
            f"saving checkpoint {step} in {self.directory} failed ({short_cause(err)}): "
            f"training stopped; {last}"
        )

    def restore(self, step: int, abstract_state) -> tuple[object, dict]:
        """Restores checkpoint `step` into the structure, shapes and shardings of
        `abstract_state` (a tree of `jax.ShapeDtypeStruct` with `.sharding`)."""
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(
                **{STATE: ocp.args.StandardRestore(abstract_state), DATA: ocp.args.JsonRestore()}
            ),
        )
        return restored[STATE], dict(restored[DATA])

    def restore_latest(self, abstract_state, warn=logging.warning):
        """Restores the newest intact checkpoint: (step, state, data state), None when the
        directory holds no checkpoint.

        A checkpoint whose restore fails is reported with one `warn` line and skipped; once an
        older one restores, the skipped ones are renamed `<step>.damaged` (process 0).

        Raises:
          InputError: no checkpoint restores (one line: each step with its cause).
        """
        damaged: list[tuple[int, str]] = []
        for step in sorted(self.all_steps(), reverse=True):
            try:
                state, data = self.restore(step, abstract_state)
            except Exception as err:  # any failure: try the next older one
                damaged.append((step, short_cause(err)))
                warn(
                    f"Checkpoint {step} ({self.directory / str(step)}) is damaged and skipped: "
                    f"{damaged[-1][1]}"
                )
                continue
            if damaged:
                self._set_aside([s for s, _ in damaged])
            return step, state, data
        if damaged:
            causes = "; ".join(f"step {s}: {c}" for s, c in damaged)
            raise InputError(
                f"no intact checkpoint in {self.directory} ({causes}): move the damaged ones "
                "away to train from the start, or use another --workdir"
            )
        return None

    def _set_aside(self, steps: list[int]) -> None:
        """Renames damaged step folders `<step>.damaged` (kept for inspection; Orbax ignores them
        and can save those steps again)."""
        _sync("checkpoints restored")  # every process is done reading them
        if jax.process_index() == 0:
            for step in steps:
                path = self.directory / str(step)
                target, n = path.with_name(path.name + DAMAGED_SUFFIX), 1
                while target.exists():
                    n += 1
                    target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}{n}")
                path.rename(target)
        _sync("damaged checkpoints set aside")
        self.manager.reload()

    def wait(self) -> None:
        """Blocks until the last save is on disk.

        Raises:
          InputError: it failed.
        """
        if self._pending is not None:
            self._finish()
        else:
            self.manager.wait_until_finished()

    def close(self) -> None:
        """Waits for the last save (raising its error) and closes the manager; after a failed
        save, closes quietly (the error was raised already)."""
        try:
            if not self._failed:
                self.wait()
        finally:
            try:
                self.manager.close()
            except Exception:
                if not self._failed:
                    raise


def abstract_with_sharding(tree, sharding):
    """A tree of `jax.ShapeDtypeStruct` (from `jax.eval_shape`) with one sharding on every leaf."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)
