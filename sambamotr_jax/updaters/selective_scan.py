"""The selective state-space recurrence of Mamba/Samba, one step or a whole sequence.

Discretization as in the official Samba block: zero-order hold for A, ``exp(delta * A)``, and a
simplified Euler step for B, ``delta * B * u``. One step is

    x_t = exp(delta_t * A) * x_{t-1} + delta_t * B_t * u_t
    y_t = x_t . C_t + D * u_t

Samba inserts a synchronization between the state update and the read-out (see `samba.py`); with
synchronization off (the "Mamba" ablation) the recurrence is linear in ``x`` and a whole sequence
runs with `jax.lax.associative_scan` in O(log L) depth.

Shapes: ``...`` are leading batch dims (e.g. tracks), ``d`` = d_inner channels, ``n`` = d_state.
Everything is computed in float32 (or wider, when the inputs are).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from sambamotr_jax.nn.linear import HIGHEST


def discretize(
    delta: jax.Array, A: jax.Array, B: jax.Array, u: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """ZOH for A and Euler for B.

    Args:
      delta: (..., d) positive step sizes (softplus output).
      A: (d, n) continuous state matrix (negative: ``-exp(A_log)``).
      B: (..., n) input projection.
      u: (..., d) input.

    Returns:
      (deltaA, deltaB_u), each (..., d, n).
    """
    dtype = jnp.promote_types(delta.dtype, jnp.float32)  # float32 (float64 under x64 replays)
    delta = delta.astype(dtype)
    delta_a = jnp.exp(delta[..., :, None] * A.astype(dtype))  # (..., d, n)
    delta_b_u = delta[..., :, None] * B[..., None, :] * u[..., :, None]  # (..., d, n)
    return delta_a, delta_b_u


def read_out(x: jax.Array, C: jax.Array, D: jax.Array, u: jax.Array) -> jax.Array:
    """``y = x . C + D * u``: x (..., d, n), C (..., n), D (d,), u (..., d) -> (..., d)."""
    return jnp.einsum("...dn,...n->...d", x, C, precision=HIGHEST) + u * D


def selective_scan_step(
    x: jax.Array,
    u: jax.Array,
    delta: jax.Array,
    A: jax.Array,
    B: jax.Array,
    C: jax.Array,
    D: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """One online step of the recurrence (no synchronization).

    Args:
      x: (..., d, n) previous state.
      u: (..., d) input; delta: (..., d); A: (d, n); B, C: (..., n); D: (d,).

    Returns:
      (y (..., d), new state (..., d, n)).
    """
    delta_a, delta_b_u = discretize(delta, A, B, u)
    x = delta_a * x + delta_b_u
    return read_out(x, C, D, u), x


def selective_scan(
    x0: jax.Array,
    u: jax.Array,
    delta: jax.Array,
    A: jax.Array,
    B: jax.Array,
    C: jax.Array,
    D: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """The recurrence over a whole sequence with `jax.lax.associative_scan` (time on axis 0).

    Exact for Samba only without synchronization (the synchronization is not linear in x).

    Args:
      x0: (..., d, n) state before the first step.
      u: (L, ..., d); delta: (L, ..., d); A: (d, n); B, C: (L, ..., n); D: (d,).

    Returns:
      (y (L, ..., d), states (L, ..., d, n)): read-outs and the state after every step.
    """
    delta_a, delta_b_u = discretize(delta, A, B, u)  # (L, ..., d, n) each
    # Fold x0 into the first step: x_1 = a_1 x0 + b_1.
    delta_b_u = delta_b_u.at[0].add(delta_a[0] * x0)

    def combine(left, right):
        # Composition of affine maps x -> a x + b, left applied first.
        a_l, b_l = left
        a_r, b_r = right
        return a_l * a_r, a_r * b_l + b_r

    _, states = jax.lax.associative_scan(combine, (delta_a, delta_b_u), axis=0)
    return read_out(states, C, D, u), states
