"""Device mesh and shardings for data-parallel training (today's pjit: `jax.jit` + NamedSharding).

The mesh has one axis, `data`: each device holds one replica of the parameters and optimizer
state (replicated sharding) and its share of the global batch (batch axis split over `data`).
Multi-host: call `jax.distributed.initialize()` first; each host then feeds only its own slice of
the global batch (`global_batch`).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(num_data: int = -1, devices: list | None = None) -> Mesh:
    """A 1-D mesh over `num_data` devices (-1: all devices of all hosts).

    Raises:
      ValueError: more devices asked for than exist, or a count that leaves some host out.
    """
    devices = list(jax.devices() if devices is None else devices)
    n = len(devices) if num_data in (-1, 0, None) else int(num_data)
    if not 0 < n <= len(devices):
        raise ValueError(
            f"config.mesh.data={num_data}: only {len(devices)} devices are visible "
            f"({devices[0].platform}); use -1 for all of them"
        )
    if jax.process_count() > 1 and n != len(devices):
        raise ValueError(
            f"config.mesh.data={num_data}: with {jax.process_count()} hosts the mesh must use "
            "every device (-1)"
        )
    mesh = Mesh(np.asarray(devices[:n]), (DATA_AXIS,))
    if jax.process_count() > 1:
        connect_collectives(mesh)
    return mesh


def connect_collectives(mesh: Mesh) -> None:
    """Runs one all-reduce over the mesh: the processes connect their collectives (gloo on CPU)
    now, while they are in step, rather than in the first training step, where one of them may
    still be compiling or loading (gloo gives up connecting after 30 s)."""
    ones = jax.make_array_from_callback(
        (mesh.devices.size,), batch_sharded(mesh), lambda index: np.ones((1,), np.float32)
    )
    total = jax.jit(lambda x: x.sum(), out_shardings=replicated(mesh))(ones)
    if int(host_copy(total)) != mesh.devices.size:
        raise RuntimeError(f"all-reduce over {mesh.devices.size} devices gave {total}")


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state, step, RNG)."""
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The leading (batch) axis is split over the data axis."""
    return NamedSharding(mesh, P(DATA_AXIS))


def local_data_devices(mesh: Mesh) -> int:
    """Devices of this host in the mesh (how many batch slices this host feeds)."""
    return sum(d.process_index == jax.process_index() for d in mesh.devices.flat)


def global_batch(mesh: Mesh, local: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """This host's slice of the batch (leading axis) -> global arrays sharded over `data`.

    Every host passes its own rows, in process order; the global batch is their concatenation.
    """
    sharding = batch_sharded(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}


def host_copy(tree):
    """Replicated global arrays -> NumPy on this host (works on every host, no gathering)."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)
