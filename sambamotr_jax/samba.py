"""Samba: synchronized selective state-space models over a set of tracklets (one step per frame).

Flax port of the official ``models/query_updaters/samba.py`` (+ ``attention.py``, ``ffn.py``);
modules and parameters carry the official attribute names, so `torch_weights.fill_variables`
loads the official ``query_updater.sequence_model.*`` tensors by rule.

Tracks live in a fixed capacity of K slots: the T live tracks occupy slots 0..T-1 (the official
order) and the rest is padding; ``num_live`` (= T) may be a traced value. Only the
synchronization attention mixes tracks, and it only ever reads live slots, so padded slots never
change live outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax import selective_scan

# Official LayerNorms are torch's default nn.LayerNorm (eps 1e-5, exact two-pass variance).
LN_EPS = 1e-5
_HIGHEST = jax.lax.Precision.HIGHEST


def layer_norm(name: str) -> nn.LayerNorm:
    """torch ``nn.LayerNorm`` equivalent (eps 1e-5, two-pass variance)."""
    return nn.LayerNorm(epsilon=LN_EPS, use_fast_variance=False, name=name)


def torch_uniform_bias(fan_in: int) -> Callable:
    """torch's default Linear/Conv bias initializer, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def dense(features: int, fan_in: int, *, use_bias: bool = True, name: str) -> nn.Dense:
    """torch ``nn.Linear`` as the official query updater initializes it (xavier weights)."""
    return nn.Dense(
        features,
        use_bias=use_bias,
        kernel_init=nn.initializers.xavier_uniform(),
        bias_init=torch_uniform_bias(fan_in),
        name=name,
    )


class FFN(nn.Module):
    """Official ``models/ffn.py``: ``norm(x + linear2(relu(linear1(x))))``."""

    d_model: int
    d_ffn: int
    bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (..., d_model) -> (..., d_model)."""
        y = dense(self.d_ffn, self.d_model, use_bias=self.bias, name="linear1")(x)
        y = dense(self.d_model, self.d_ffn, use_bias=self.bias, name="linear2")(nn.relu(y))
        return layer_norm("norm")(x + y)


def head_split_indices(
    num_live: jax.Array | int, capacity: int, num_heads: int, official: bool = True
) -> tuple[jax.Array, jax.Array]:
    """Which chunk of the projected tokens each (head, position) pair of the attention reads.

    The projected tokens (K, E) are cut into K * heads chunks of head_dim values, chunk
    ``t * heads + j`` holding features ``j * head_dim:(j + 1) * head_dim`` of token t (their memory
    order). Standard multi-head attention gives head h at position t chunk ``t * heads + h``.
    The official attention instead reinterprets the memory of the T live tokens with
    ``view(heads, T, head_dim)``: head h at position t reads chunk ``h * T + t``, mixing tokens
    (the head-split quirk of OFFICIAL_SEMANTICS.md). Positions t >= T are padding (invalid keys);
    their indices stay in range so padded outputs stay finite.

    Args:
      num_live: T, the number of live tokens (slots 0..T-1); may be traced.
      capacity: K, the static number of slots.
      num_heads: number of heads.
      official: the official grouping (True) or standard heads (False).

    Returns:
      (indices (heads, K) int32 into the K * heads chunks, valid (heads, K) bool: t < T).
    """
    head = jnp.arange(num_heads, dtype=jnp.int32)[:, None]  # (H, 1)
    pos = jnp.arange(capacity, dtype=jnp.int32)[None, :]  # (1, K)
    num_live = jnp.asarray(num_live, jnp.int32)
    if official:
        indices = head * num_live + pos  # (H, K); <= (H-1)T + K-1 < H*K
    else:
        indices = pos * num_heads + head  # (H, K)
    valid = jnp.broadcast_to(pos < num_live, (num_heads, capacity))
    return indices, valid


class MultiheadAttention(nn.Module):
    """Official ``query_updaters/attention.py`` MultiheadAttention (batch first, no dropout).

    Raw projection parameters in torch layout (``q_proj_weight`` (E, E) as (out, in)), an
    ``out_proj`` Linear, and the official head split (see `head_split_indices`).
    """

    embed_dim: int
    num_heads: int
    official_head_split: bool = True

    @nn.compact
    def __call__(
        self, query: jax.Array, key: jax.Array, value: jax.Array, num_live: jax.Array | int
    ) -> jax.Array:
        """query, key, value: (B, K, E) with live tokens in slots 0..num_live-1 -> (B, K, E)."""
        e, h = self.embed_dim, self.num_heads
        head_dim = e // h
        if head_dim * h != e:
            raise ValueError(f"embed_dim {e} must be divisible by num_heads {h}")
        xavier = nn.initializers.xavier_uniform()
        zeros = nn.initializers.zeros_init()

        def project(name: str, x: jax.Array) -> jax.Array:
            w = self.param(f"{name}_proj_weight", xavier, (e, e))  # (out, in), torch layout
            b = self.param(f"{name}_proj_bias", zeros, (e,))
            return jnp.einsum("bki,oi->bko", x, w, precision=_HIGHEST) + b  # (B, K, E)

        bsz, cap, _ = query.shape
        indices, valid = head_split_indices(num_live, cap, h, self.official_head_split)

        def split(x: jax.Array) -> jax.Array:
            chunks = x.reshape(bsz, cap * h, head_dim)  # (B, K*H, hd): chunk t*H + j
            return jnp.take(chunks, indices, axis=1)  # (B, H, K, hd)

        q = split(project("q", query))
        k = split(project("k", key))
        v = split(project("v", value))
        v = jnp.where(valid[None, :, :, None], v, 0.0)  # padded keys never carry values
        scores = jnp.einsum("bhqd,bhkd->bhqk", q, k, precision=_HIGHEST) / math.sqrt(head_dim)
        scores = jnp.where(valid[None, :, None, :], scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores, axis=-1)  # (B, H, K, K)
        out = jnp.einsum("bhqk,bhkd->bhqd", weights, v, precision=_HIGHEST)  # (B, H, K, hd)
        out = out.transpose(0, 2, 1, 3).reshape(bsz, cap, e)  # (B, K, H, hd) -> (B, K, E)
        return nn.Dense(e, kernel_init=nn.initializers.xavier_uniform(), name="out_proj")(out)


class SambaBlock(nn.Module):
    """One synchronized selective SSM step for all tracks (official ``SambaBlock``, the mixer)."""

    d_model: int = 256
    d_state: int = 16
    expand: int = 2
    dt_rank: int | None = None  # None: ceil(d_model / 16) (official 'auto')
    d_conv: int = 4
    conv_bias: bool = True
    bias: bool = False
    with_self_attn: bool = True
    with_self_attn_prior: bool = False
    num_attn_layers: int = 1
    num_heads: int = 4
    ffn_dim: int = 128
    with_conv: bool = True
    inner_layernorms: bool = False
    with_input_layernorm: bool = True
    official_head_split: bool = True

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def rank(self) -> int:
        return self.dt_rank if self.dt_rank is not None else math.ceil(self.d_model / 16)

    def sync_hidden_states(
        self, x: jax.Array, pos_emb: jax.Array, num_live: jax.Array | int
    ) -> jax.Array:
        """Channel-wise self-attention across tracks.

        Args:
          x: (K, d_inner, d_state) states; tokens are tracks, one attention batch per channel.
          pos_emb: (d_inner, 1, d_state) scaled channel position embedding (query and key only).
          num_live: T, live tracks in slots 0..T-1.

        Returns:
          (K, d_inner, d_state).
        """
        n = self.d_state
        x = x.transpose(1, 0, 2)  # (K, d_in, n) -> (d_in, K, n): batch = channels, tokens = tracks
        for i in range(self.num_attn_layers):
            residual = x
            normed = layer_norm(f"pre_norms_{i}")(x)
            attn = MultiheadAttention(
                n, self.num_heads, self.official_head_split, name=f"self_attn_layers_{i}"
            )
            x = attn(normed + pos_emb, normed + pos_emb, residual, num_live)
            x = layer_norm(f"norms_{i}")(x + residual)
            x = FFN(n, self.ffn_dim, name=f"ffn_layers_{i}")(x)
        return x.transpose(1, 0, 2)  # (d_in, K, n) -> (K, d_in, n)

    @nn.compact
    def __call__(
        self,
        inputs: jax.Array,
        hidden_state: jax.Array,
        conv_history: jax.Array,
        num_live: jax.Array | int,
        rate: float | jax.Array = 1.0,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """One step.

        Args:
          inputs: (K, d_model) (already normed by the residual block).
          hidden_state: (K, d_inner, d_state) SSM state.
          conv_history: (K, d_conv, d_inner) the last d_conv conv inputs, oldest first.
          num_live: T, live tracks in slots 0..T-1.
          rate: the official frame-rate divisor of delta (1 unless fps-invariant).

        Returns:
          (outputs (K, d_model), new hidden_state, new conv_history).
        """
        d_in, n, rank = self.d_inner, self.d_state, self.rank
        inputs_and_res = dense(2 * d_in, self.d_model, use_bias=self.bias, name="in_proj")(
            inputs
        )  # (K, 2 d_in)
        u, res = jnp.split(inputs_and_res, 2, axis=-1)  # (K, d_in) each

        # Roll the history left and write the current input in the last slot.
        conv_history = jnp.concatenate([conv_history[:, 1:], u[:, None]], axis=1)  # (K, l, d_in)
        if self.with_conv:
            conv = nn.Conv(
                d_in,
                kernel_size=(self.d_conv,),
                padding="VALID",
                feature_group_count=d_in,
                use_bias=self.conv_bias,
                kernel_init=nn.initializers.xavier_uniform(),
                bias_init=torch_uniform_bias(self.d_conv),
                precision=_HIGHEST,
                name="conv1d",
            )
            u = conv(conv_history)[:, 0]  # (K, 1, d_in) -> (K, d_in); needs l == d_conv
        else:
            u = conv_history[:, -1]
        u = nn.silu(u)
        if self.with_input_layernorm:
            u = layer_norm("input_layernorm")(u)

        # State-space parameters; A and the state stay float32.
        # Official quirk: A_log is (d_in, n), so the updater's reset_parameters overwrites the
        # Mamba initialization log(1..n) with xavier_uniform.
        A_log = self.param("A_log", nn.initializers.xavier_uniform(), (d_in, n))
        D = self.param("D", nn.initializers.ones_init(), (d_in,))
        A = -jnp.exp(A_log.astype(jnp.float32))  # (d_in, n)
        dt_b_c = nn.Dense(
            rank + 2 * n,
            use_bias=False,
            kernel_init=nn.initializers.xavier_uniform(),
            name="x_proj",
        )(u)  # (K, rank + 2n)
        dt, B, C = jnp.split(dt_b_c, [rank, rank + n], axis=-1)  # (K, rank), (K, n), (K, n)
        if self.inner_layernorms:
            dt = layer_norm("dt_layernorm")(dt)
            B = layer_norm("B_layernorm")(B)
            C = layer_norm("C_layernorm")(C)
        delta = jax.nn.softplus(dense(d_in, rank, name="dt_proj")(dt)) / rate  # (K, d_in)

        delta_a, delta_b_u = selective_scan.discretize(delta, A, B, u)  # (K, d_in, n) each
        # Synchronization parameters exist (as in the official block) even when it is off.
        position_embedding = self.param(
            "position_embedding", nn.initializers.xavier_uniform(), (d_in, n)
        )
        pos_emb_scaling = self.param("pos_emb_scaling", nn.initializers.zeros_init(), (1,))
        sync_scaling = jnp.exp(self.param("sync_scaling", nn.initializers.zeros_init(), (1,)))
        pos_emb = (position_embedding * jnp.exp(pos_emb_scaling))[:, None, :]  # (d_in, 1, n)

        x = hidden_state.astype(jnp.float32)
        if self.with_self_attn:
            if self.with_self_attn_prior:
                x = delta_a * x
                x = x + sync_scaling * self.sync_hidden_states(x, pos_emb, num_live)
                x = x + delta_b_u
            else:
                x = delta_a * x + delta_b_u
                x = x + sync_scaling * self.sync_hidden_states(x, pos_emb, num_live)
        else:
            x = delta_a * x + delta_b_u
        y = selective_scan.read_out(x, C, D, u)  # (K, d_in)
        y = y * nn.silu(res)
        out = dense(self.d_model, d_in, use_bias=self.bias, name="out_proj")(y)  # (K, d_model)
        return out, x, conv_history


class ResidualBlock(nn.Module):
    """``mixer(norm(x)) + x`` (official ``ResidualBlock``)."""

    mixer: SambaBlock  # passed unbound (parent=None); adopted under the name 'mixer'

    @nn.compact
    def __call__(self, inputs, hidden_state, conv_history, num_live, rate=1.0):
        out, hidden_state, conv_history = self.mixer(
            layer_norm("norm")(inputs), hidden_state, conv_history, num_live, rate
        )
        return out + inputs, hidden_state, conv_history


class Samba(nn.Module):
    """Stack of residual Samba blocks plus ``norm_f`` (official ``Samba``)."""

    num_layers: int = 4
    d_model: int = 256
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    with_self_attn: bool = True
    with_self_attn_prior: bool = False
    num_attn_layers: int = 1
    num_heads: int = 4
    ffn_dim: int = 128
    with_conv: bool = True
    inner_layernorms: bool = False
    with_input_layernorm: bool = True
    official_head_split: bool = True

    @nn.compact
    def __call__(
        self,
        query: jax.Array,
        hidden_state: jax.Array,
        conv_history: jax.Array,
        query_pos: jax.Array | None,
        num_live: jax.Array | int,
        rate: float | jax.Array = 1.0,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """One frame for all tracks.

        Args:
          query: (K, d_model) observations.
          hidden_state: (K, num_layers, d_inner, d_state).
          conv_history: (K, num_layers, d_conv, d_inner).
          query_pos: (K, d_model) added to the input of every layer, or None.
          num_live: T, live tracks in slots 0..T-1 (may be traced).
          rate: delta divisor (1 in the official configs).

        Returns:
          (outputs (K, d_model), hidden_state, conv_history) with the input shapes.
        """
        block_fields = dict(
            d_model=self.d_model,
            d_state=self.d_state,
            expand=self.expand,
            d_conv=self.d_conv,
            with_self_attn=self.with_self_attn,
            with_self_attn_prior=self.with_self_attn_prior,
            num_attn_layers=self.num_attn_layers,
            num_heads=self.num_heads,
            ffn_dim=self.ffn_dim,
            with_conv=self.with_conv,
            inner_layernorms=self.inner_layernorms,
            with_input_layernorm=self.with_input_layernorm,
            official_head_split=self.official_head_split,
        )
        if conv_history.shape[2] != self.d_conv:
            raise ValueError(f"conv history length {conv_history.shape[2]} != d_conv {self.d_conv}")
        states, histories = [], []
        for i in range(self.num_layers):
            if query_pos is not None:
                query = query + query_pos
            mixer = SambaBlock(**block_fields, parent=None)
            query, h, c = ResidualBlock(mixer, name=f"layers_{i}")(
                query, hidden_state[:, i], conv_history[:, i], num_live, rate
            )
            states.append(h)
            histories.append(c)
        out = layer_norm("norm_f")(query)
        return out, jnp.stack(states, axis=1), jnp.stack(histories, axis=1)
