"""Training checkpoints: Orbax `CheckpointManager` over `<workdir>/checkpoints/<step>/`.

Each checkpoint holds two items:
  state   the TrainState (params, buffers, optimizer state, step, RNG), `StandardSave`
  data    the input iterator's state ({"step": next batch}), `JsonSave`

Saves are asynchronous: `save` returns once the arrays are copied off the devices, the files are
written in the background, and a checkpoint directory appears (renamed from a temporary one) only
when complete, so a run killed at any moment leaves its last finished checkpoint intact. Every
process calls `save` and `restore` (Orbax coordinates the hosts).
"""

from __future__ import annotations

import pathlib

import jax
import orbax.checkpoint as ocp

STATE, DATA = "state", "data"


class TrainCheckpointer:
    """Keeps the last `keep` checkpoints of a run in `directory`."""

    def __init__(self, directory: str | pathlib.Path, *, keep: int = 3, async_save: bool = True):
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=async_save
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state, data_state: dict) -> bool:
        """Starts saving `state` and the iterator state as checkpoint `step` (returns at once)."""
        if step in self.manager.all_steps():
            return False
        return self.manager.save(
            step,
            args=ocp.args.Composite(
                **{STATE: ocp.args.StandardSave(state), DATA: ocp.args.JsonSave(data_state)}
            ),
            force=True,
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

    def wait(self) -> None:
        """Blocks until the last save is on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def abstract_with_sharding(tree, sharding):
    """A tree of `jax.ShapeDtypeStruct` (from `jax.eval_shape`) with one sharding on every leaf."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)
