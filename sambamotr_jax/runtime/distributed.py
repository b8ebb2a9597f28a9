"""Multi-process runs on JAX's distributed runtime: the command-line flags and `initialize`.

One process per host (or per GPU under SLURM): every process runs the same command with

    --coordinator_address=HOST:PORT --num_processes=N --process_id=I   (I = 0..N-1)

where HOST:PORT is reachable from every host and free on process 0's host (it serves the
coordination service there), or with `--multihost`, which takes those three from the cluster's
environment as `jax.distributed.initialize()` does (SLURM, Open MPI, Kubernetes, Cloud TPU).
Without either the run is one process. Call `initialize` before anything touches a device.

The same path serves CPU hosts (collectives over gloo TCP) and GPU/TPU hosts (NCCL, ICI).
A coordinator on a loopback address (127.x.x.x, localhost: several processes on one machine)
keeps everything on loopback: the coordination service binds only there, and the CPU
collectives use 127.0.0.1.

A process that dies stops the others: each process sends the coordination service a heartbeat;
one silent for `--heartbeat_timeout_s` (default 100 s, JAX's default) is declared dead and
every other process exits with an error naming it. A collective waiting for the dead process
usually fails sooner (its connection closes). Tests set it to a few seconds.

Imports only `formats` (and jax, lazily).
"""

from __future__ import annotations

import ipaddress
import socket

from absl import flags

from sambamotr_jax.formats.errors import InputError

DEFAULT_HEARTBEAT_TIMEOUT_S = 100  # jax.distributed.initialize's default
DEFAULT_INIT_TIMEOUT_S = 300


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines --coordinator_address, --num_processes, --process_id, --multihost and
    --heartbeat_timeout_s (read by `initialize_from_flags`)."""
    flags.DEFINE_string(
        "coordinator_address",
        None,
        "Multi-process: HOST:PORT of process 0's coordination service (with --num_processes "
        "and --process_id).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "num_processes", None, "Multi-process: number of processes.", flag_values=flag_values
    )
    flags.DEFINE_integer(
        "process_id",
        None,
        "Multi-process: this process, 0..num_processes-1.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "multihost",
        False,
        "Multi-process: take the three settings from the cluster (SLURM, Open MPI, Kubernetes, "
        "Cloud TPU), as jax.distributed.initialize() does.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "heartbeat_timeout_s",
        DEFAULT_HEARTBEAT_TIMEOUT_S,
        "Multi-process: a process silent this long is declared dead and the others exit.",
        flag_values=flag_values,
    )


def initialize_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> bool:
    """`initialize` with the values of `define_flags`' flags; True when the run is multi-process."""
    return initialize(
        flag_values.coordinator_address,
        flag_values.num_processes,
        flag_values.process_id,
        auto_detect=flag_values.multihost,
        heartbeat_timeout_s=flag_values.heartbeat_timeout_s,
    )


def parse_address(address: str) -> tuple[str, int]:
    """'HOST:PORT' (IPv6 as '[::1]:PORT') -> (host, port).

    Raises:
      InputError: not HOST:PORT, or a port outside 1..65535.
    """
    host, sep, port = str(address).rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(
            f"--coordinator_address={address}: expected HOST:PORT (e.g. 10.0.0.1:1234), "
            "PORT in 1..65535"
        )
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_settings(
    coordinator_address: str | None, num_processes: int | None, process_id: int | None
) -> None:
    """The explicit settings: all three or none, a count >= 1, an id in range, HOST:PORT.

    Raises:
      InputError: the first bad setting, in one line.
    """
    given = {
        "--coordinator_address": coordinator_address,
        "--num_processes": num_processes,
        "--process_id": process_id,
    }
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise InputError(
            f"{' and '.join(missing)} missing: a multi-process run takes --coordinator_address, "
            "--num_processes and --process_id together (or --multihost on a cluster)"
        )
    if num_processes < 1:
        raise InputError(f"--num_processes={num_processes}: must be >= 1")
    if not 0 <= process_id < num_processes:
        raise InputError(
            f"--process_id={process_id}: must be in 0..{num_processes - 1} "
            f"(--num_processes={num_processes})"
        )
    parse_address(coordinator_address)


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    auto_detect: bool = False,
    *,
    heartbeat_timeout_s: int = DEFAULT_HEARTBEAT_TIMEOUT_S,
    initialization_timeout_s: int = DEFAULT_INIT_TIMEOUT_S,
) -> bool:
    """Joins this process to a multi-process run (`jax.distributed.initialize`).

    Args:
      coordinator_address, num_processes, process_id: the run's settings; all three, or none
        with `auto_detect` (which fills those not given from the cluster's environment).
      auto_detect: take the settings from SLURM, Open MPI, Kubernetes or Cloud TPU.
      heartbeat_timeout_s: a process silent this long is declared dead; the others exit.
      initialization_timeout_s: how long to wait for every process to join.

    Returns:
      True when the run is multi-process (initialized), False for a one-process run (nothing
      given, no auto-detection).

    Raises:
      InputError: bad or incomplete settings, no cluster found with `auto_detect`, or a
        non-positive timeout.
    """
    explicit = (coordinator_address, num_processes, process_id)
    if not auto_detect and explicit == (None, None, None):
        return False
    if heartbeat_timeout_s < 1:
        raise InputError(f"--heartbeat_timeout_s={heartbeat_timeout_s}: must be >= 1")
    import jax  # noqa: PLC0415 (after the entry point's set-up)

    local_device_ids = None
    if auto_detect:
        from jax._src import clusters  # noqa: PLC0415 (the detection initialize() runs)

        if None in explicit:
            try:
                coordinator_address, num_processes, process_id, local_device_ids = (
                    clusters.ClusterEnv.auto_detect_unset_distributed_params(
                        coordinator_address,
                        num_processes,
                        process_id,
                        None,
                        None,
                        initialization_timeout_s,
                    )
                )
            except Exception as err:  # a half-set cluster environment
                raise InputError(
                    f"--multihost: reading the cluster environment failed: {err}"
                ) from err
        if None in (coordinator_address, num_processes, process_id):
            raise InputError(
                "--multihost: no cluster environment found (SLURM, Open MPI, Kubernetes, Cloud "
                "TPU); pass --coordinator_address=HOST:PORT --num_processes=N --process_id=I"
            )
    check_settings(coordinator_address, num_processes, process_id)
    host, port = parse_address(coordinator_address)
    bind = None  # JAX's default: every interface of process 0's host, the same port
    if is_loopback(host):
        bind = coordinator_address
        _use_loopback_cpu_collectives()
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        local_device_ids=local_device_ids,
        cluster_detection_method="deactivate",
        initialization_timeout=initialization_timeout_s,
        heartbeat_timeout_seconds=heartbeat_timeout_s,
        coordinator_bind_address=bind,
    )
    return True


def _use_loopback_cpu_collectives() -> None:
    """The CPU backend's gloo collectives on 127.0.0.1 (by default gloo listens on the address
    the host name resolves to). Must run before the CPU backend starts."""
    from jax._src import config as jax_config  # noqa: PLC0415
    from jax._src import distributed as jax_distributed  # noqa: PLC0415
    from jax._src import xla_bridge  # noqa: PLC0415
    from jax._src.lib import _jax  # noqa: PLC0415

    if jax_config.cpu_collectives_implementation.value not in (None, "gloo"):
        return  # MPI (or another choice of the user's) is left alone

    def make_cpu_client():
        collectives = None
        if jax_distributed.global_state.client is not None:
            collectives = _jax.make_gloo_tcp_collectives(
                distributed_client=jax_distributed.global_state.client, hostname="127.0.0.1"
            )
        return xla_bridge.make_cpu_client(collectives=collectives)

    xla_bridge.register_backend_factory("cpu", make_cpu_client, priority=0, fail_quietly=False)


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a coordinator of processes on this machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_index() -> int:
    """This process's index (0 when jax.distributed is not initialized)."""
    import jax  # noqa: PLC0415

    return jax.process_index()


def process_count() -> int:
    import jax  # noqa: PLC0415

    return jax.process_count()


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier `name` (no-op for one process)."""
    import jax  # noqa: PLC0415

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils  # noqa: PLC0415

        multihost_utils.sync_global_devices(name)
