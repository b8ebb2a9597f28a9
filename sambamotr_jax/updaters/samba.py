"""Samba: synchronized selective state-space models over a set of tracklets (one step per frame).

Flax port of the official ``models/query_updaters/samba.py`` (+ ``attention.py``, ``ffn.py``);
modules and parameters carry the official attribute names, so `torch_state.fill_variables`
loads the official ``query_updater.sequence_model.*`` tensors by rule.

Tracks live in a fixed capacity of K slots: the T live tracks occupy slots 0..T-1 (the official
order) and the rest is padding; ``num_live`` (= T) may be a traced value. Only the
synchronization attention mixes tracks, and it only ever reads live slots, so padded slots never
change live outputs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from sambamotr_jax.nn.linear import HIGHEST, XAVIER, dense, torch_uniform_bias
from sambamotr_jax.nn.normalization import TORCH_LAYER_NORM_EPS, layer_norm
from sambamotr_jax.updaters import selective_scan


@dataclasses.dataclass(frozen=True)
class SambaConfig:
    """Samba's hyperparameters (official yaml keys in brackets; defaults = DanceTrack
    ``def_detr/train_residual_masking_sync_longer.yaml``)."""

    d_model: int = 256  # token width [HIDDEN_DIM]
    num_layers: int = 4  # residual Samba blocks [SAMBA_NUM_LAYERS]
    d_state: int = 16  # SSM state size per channel [STATE_DIM]
    expand: int = 2  # d_inner = expand * d_model [EXPAND]
    d_conv: int = 4  # causal conv history length [CONV_DIM]
    num_heads: int = 4  # synchronization attention heads [SAMBA_NUM_HEADS]
    ffn_dim: int = 128  # synchronization FFN width [SAMBA_FFN_DIM]
    num_attn_layers: int = 1  # synchronization layers [SAMBA_NUM_ATTN_LAYERS]
    with_self_attn: bool = True  # synchronization on [WITH_SELF_ATTN]
    with_self_attn_prior: bool = False  # synchronize before the input [WITH_SELF_ATTN_PRIOR]
    with_conv: bool = True  # [SAMBA_WITH_CONV]
    inner_layernorms: bool = False  # [SAMBA_WITH_INNER_LAYERNORMS]
    with_input_layernorm: bool = True  # [SAMBA_WITH_INPUT_LAYERNORM]
    official_head_split: bool = True  # the official head split of the synchronization
    dt_rank: int | None = None  # None: ceil(d_model / 16) (official 'auto')
    conv_bias: bool = True
    bias: bool = False  # in_proj / out_proj biases

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def rank(self) -> int:
        return self.dt_rank if self.dt_rank is not None else math.ceil(self.d_model / 16)


# The synchronization keeps the d_inner channels as the last (contiguous, vectorized) axis and
# the 16 features first. On CPU, materializing big intermediates (the FFN hidden (128, K, 512),
# attention scores (heads, 512, K, K): tens to hundreds of MB at K = 128) costs far more than
# their arithmetic, so those are computed over blocks of tracks with `jax.lax.map`, each block
# about this many elements (a few MiB).
_BLOCK_ELEMENTS = 1 << 20
# Attention scores larger than _BLOCK_ELEMENTS in all are computed over blocks of queries of
# about this many elements (512 KiB, a core's L2 cache): one query per block from K = 64 on. On
# the 2-core EPYC of docs/benchmarks.md the Samba update at 128 slots takes 0.48 s on one core
# with these blocks, 0.72 s with blocks of _BLOCK_ELEMENTS.
_SCORE_BLOCK_ELEMENTS = 1 << 17


class DenseParams(nn.Module):
    """The parameters of `dense` / ``nn.Dense`` (same names and initializers), returned.

    For code that applies them itself, e.g. inside `jax.lax.map`.
    """

    in_features: int
    features: int
    use_bias: bool = True
    kernel_init: Callable = XAVIER
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self) -> tuple[jax.Array, jax.Array | None]:
        """-> (kernel (in, out), bias (out,) or None)."""
        kernel = self.param("kernel", self.kernel_init, (self.in_features, self.features))
        if not self.use_bias:
            return kernel, None
        return kernel, self.param("bias", self.bias_init, (self.features,))


class LayerNormParams(nn.Module):
    """The parameters of `layer_norm` (``scale``, ``bias``), returned."""

    features: int

    @nn.compact
    def __call__(self) -> tuple[jax.Array, jax.Array]:
        """-> (scale (features,), bias (features,))."""
        scale = self.param("scale", nn.initializers.ones_init(), (self.features,))
        return scale, self.param("bias", nn.initializers.zeros_init(), (self.features,))


def _along_first(v: jax.Array, ndim: int) -> jax.Array:
    """(E,) -> (E, 1, ..., 1) with ndim dims, to broadcast over a features-first array."""
    return v.reshape((-1,) + (1,) * (ndim - 1))


def features_first_dense(x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
    """A Linear on axis 0: x (in, ...), kernel (in, out), bias (out,) -> (out, ...)."""
    y = jnp.tensordot(kernel, x, axes=([0], [0]))  # (out, ...)
    return y if bias is None else y + _along_first(bias, x.ndim)


def features_first_layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array) -> jax.Array:
    """`layer_norm` (eps 1e-5, two-pass variance) over axis 0: x (E, ...) -> (E, ...).

    The sums over the few features are written out (elementwise adds over contiguous slabs),
    which XLA's CPU fusions run much faster than a reduction over a major axis.
    """
    e = x.shape[0]
    mean = sum(x[i] for i in range(e)) / e  # (...)
    centered = x - mean  # (E, ...)
    var = sum(centered[i] * centered[i] for i in range(e)) / e  # (...)
    y = centered * jax.lax.rsqrt(var + TORCH_LAYER_NORM_EPS)
    return y * _along_first(scale, x.ndim) + _along_first(bias, x.ndim)


def map_track_blocks(fn: Callable, x: jax.Array, block: int) -> jax.Array:
    """``fn`` over blocks of axis 1 of x (E, K, B) with `jax.lax.map`; fn: (E, blk, B) -> (F, blk, B).

    K is padded to a multiple of the block (padded tracks are computed and dropped); fn must act
    on each track independently. Under differentiation each block keeps only its input and
    recomputes fn's intermediates in the backward pass (`jax.checkpoint`): fn's hidden
    activations (e.g. the FFN's (128, blk, 512)) are not kept for every block and frame.
    """
    e, cap, b = x.shape
    if block >= cap:
        return fn(x)
    num_blocks = -(-cap // block)
    x = jnp.pad(x, ((0, 0), (0, num_blocks * block - cap), (0, 0)))  # (E, nb*blk, B)
    x = x.reshape(e, num_blocks, block, b).transpose(1, 0, 2, 3)  # (nb, E, blk, B)
    y = jax.lax.map(jax.checkpoint(fn), x)  # (nb, F, blk, B)
    y = y.transpose(1, 0, 2, 3).reshape(y.shape[1], num_blocks * block, b)  # (F, nb*blk, B)
    return y[:, :cap]


class FFN(nn.Module):
    """Official ``models/ffn.py``: ``norm(x + linear2(relu(linear1(x))))``.

    ``features_first`` applies it (same parameters) to x (d_model, K, B), over blocks of tracks.
    """

    d_model: int
    d_ffn: int
    bias: bool = True
    features_first: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (..., d_model) -> (..., d_model), or (d_model, K, B) if ``features_first``."""
        if self.features_first:

            def linear(fan_in: int, features: int, name: str) -> tuple:
                return DenseParams(
                    fan_in, features, self.bias, bias_init=torch_uniform_bias(fan_in), name=name
                )()

            linear1 = linear(self.d_model, self.d_ffn, "linear1")
            linear2 = linear(self.d_ffn, self.d_model, "linear2")
            norm = LayerNormParams(self.d_model, name="norm")()

            def block_ffn(xb: jax.Array) -> jax.Array:  # (d_model, blk, B)
                y = nn.relu(features_first_dense(xb, *linear1))  # (d_ffn, blk, B)
                return features_first_layer_norm(xb + features_first_dense(y, *linear2), *norm)

            block = max(1, _BLOCK_ELEMENTS // (self.d_ffn * x.shape[2]))
            return map_track_blocks(block_ffn, x, block)
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


def _attend(q: jax.Array, k: jax.Array, v: jax.Array, valid: jax.Array) -> jax.Array:
    """Softmax attention for a batch of independent (head, channel) problems.

    Args:
      q: (H, B, Q, hd) queries, already scaled by 1/sqrt(hd).
      k, v: (H, B, hd, K) keys and values.
      valid: (K,) bool, keys that may be attended to.

    Returns:
      (H, B, hd, Q).
    """
    head_dim = q.shape[3]
    # Broadcast-multiply-add over the tiny head_dim (faster than a batched dot with depth 4).
    scores = sum(q[..., d, None] * k[..., None, d, :] for d in range(head_dim))  # (H, B, Q, K)
    # The official order: normalized softmax weights, then weights @ v. jax.nn.softmax's
    # gradient is w * (g - sum(w * g)) like torch's softmax backward; normalizing after the
    # product instead loses float32 precision in the gradients (docs/design.md).
    scores = jnp.where(valid, scores, jnp.finfo(scores.dtype).min)  # (H, B, Q, K)
    weights = jnp.where(valid, jax.nn.softmax(scores, axis=-1), 0.0)  # (H, B, Q, K)
    return jnp.einsum("hbqk,hbdk->hbdq", weights, v, precision=HIGHEST)  # (H, B, hd, Q)


def attend_in_blocks(
    q: jax.Array, k: jax.Array, v: jax.Array, valid: jax.Array, num_queries: jax.Array | int
) -> jax.Array:
    """`_attend` over blocks of queries (`jax.lax.map`), bounding the memory of the scores
    (all queries at once up to _BLOCK_ELEMENTS scores, else blocks of _SCORE_BLOCK_ELEMENTS).

    Shapes as in `_attend`. Only queries 0..num_queries-1 are computed (blocks entirely past
    them are skipped with `jax.lax.cond` and give zeros); the result does not depend on the
    block size.

    The backward pass keeps only the inputs and recomputes the rest (`jax.checkpoint`): kept,
    the attention weights and the per-block copies of k and v were the query updater's largest
    training residuals, ~0.5 GB per frame at 64 track slots (4 Samba layers of (4 heads, 512
    channels, 64, 64) float32 in several copies); recomputing them costs a few small products.
    """
    return jax.checkpoint(_attend_in_blocks)(q, k, v, valid, num_queries)


def _attend_in_blocks(q, k, v, valid, num_queries):
    """`attend_in_blocks` with autodiff's residuals."""
    h, b, nq, hd = q.shape
    scores = h * b * k.shape[3]  # score elements per query
    block = nq if scores * nq <= _BLOCK_ELEMENTS else _SCORE_BLOCK_ELEMENTS // scores
    block = min(nq, max(1, block))
    if block == nq:
        return _attend(q, k, v, valid)
    num_blocks = -(-nq // block)
    q = jnp.pad(q, ((0, 0), (0, 0), (0, num_blocks * block - nq), (0, 0)))  # (H, B, nb*blk, hd)
    q = q.reshape(h, b, num_blocks, block, hd).transpose(2, 0, 1, 3, 4)  # (nb, H, B, blk, hd)
    starts = jnp.arange(num_blocks) * block  # (nb,)

    def one_block(start_and_q: tuple[jax.Array, jax.Array]) -> jax.Array:
        start, qb = start_and_q
        return jax.lax.cond(
            start < num_queries,
            lambda: _attend(qb, k, v, valid),
            lambda: jnp.zeros((h, b, hd, block), q.dtype),
        )  # (H, B, hd, blk)

    out = jax.lax.map(one_block, (starts, q))  # (nb, H, B, hd, blk)
    out = out.transpose(1, 2, 3, 0, 4).reshape(h, b, hd, num_blocks * block)  # (H, B, hd, nb*blk)
    return out[..., :nq]


class SynchronizationAttention(nn.Module):
    """Official ``query_updaters/attention.py`` MultiheadAttention (batch first, no dropout).

    Raw projection parameters in torch layout (``q_proj_weight`` (E, E) as (out, in)), an
    ``out_proj`` Linear, and the official head split (see `head_split_indices`).

    ``features_first`` takes and returns (E, K, B) instead of (B, K, E): the synchronization's
    batch is the 512 channels, which is fastest as the last (contiguous) axis.
    """

    embed_dim: int
    num_heads: int
    official_head_split: bool = True
    features_first: bool = False

    @nn.compact
    def __call__(
        self, query: jax.Array, key: jax.Array, value: jax.Array, num_live: jax.Array | int
    ) -> jax.Array:
        """query, key, value: (B, K, E) with live tokens in slots 0..num_live-1 -> (B, K, E).

        With ``features_first``: (E, K, B) -> (E, K, B).
        """
        e, h = self.embed_dim, self.num_heads
        head_dim = e // h
        if head_dim * h != e:
            raise ValueError(f"embed_dim {e} must be divisible by num_heads {h}")
        if not self.features_first:
            # (B, K, E) -> (E, K, B)
            query, key, value = (x.transpose(2, 1, 0) for x in (query, key, value))

        def project(name: str, x: jax.Array) -> jax.Array:
            w = self.param(f"{name}_proj_weight", XAVIER, (e, e))  # (out, in), torch layout
            b = self.param(f"{name}_proj_bias", nn.initializers.zeros_init(), (e,))
            return jnp.einsum("oi,ikb->okb", w, x, precision=HIGHEST) + b[:, None, None]

        _, cap, bsz = query.shape
        indices, valid = head_split_indices(num_live, cap, h, self.official_head_split)

        def split(x: jax.Array) -> jax.Array:
            x = x.reshape(h, head_dim, cap, bsz)  # (H, hd, K, B)
            if not self.official_head_split:
                return x.transpose(0, 2, 1, 3)  # (H, K, hd, B): chunk t*H + h
            chunks = x.transpose(2, 0, 1, 3).reshape(cap * h, head_dim, bsz)  # chunk t*H + j
            # Head j reads chunks j*T .. j*T + K-1 (`indices`): a contiguous window each, a
            # dynamic slice (a gather here was fused into the score computation and cost more
            # than the attention itself at K = 16).
            return jnp.stack(
                [jax.lax.dynamic_slice_in_dim(chunks, indices[j, 0], cap) for j in range(h)]
            )  # (H, K, hd, B)

        q = split(project("q", query)) * (1.0 / math.sqrt(head_dim))
        k = split(project("k", key))
        v = split(project("v", value))
        v = jnp.where(valid[:, :, None, None], v, 0.0)  # padded keys never carry values
        q = q.transpose(0, 3, 1, 2)  # (H, K, hd, B) -> (H, B, K, hd)
        k, v = k.transpose(0, 3, 2, 1), v.transpose(0, 3, 2, 1)  # (H, K, hd, B) -> (H, B, hd, K)
        # Padded queries (t >= T) are never read: their blocks are skipped (zeros).
        out = attend_in_blocks(q, k, v, valid[0], num_live)  # (H, B, hd, K)
        out = out.transpose(0, 2, 3, 1).reshape(e, cap, bsz)  # (H, hd, K, B) -> (E, K, B)
        out = features_first_dense(out, *DenseParams(e, e, name="out_proj")())  # (E, K, B)
        return out if self.features_first else out.transpose(2, 1, 0)  # (B, K, E)


class SambaBlock(nn.Module):
    """One synchronized selective SSM step for all tracks (official ``SambaBlock``, the mixer)."""

    config: SambaConfig

    def sync_hidden_states(
        self, x: jax.Array, pos_emb: jax.Array, num_live: jax.Array | int
    ) -> jax.Array:
        """Channel-wise self-attention across tracks.

        Computed features first, (d_state, K, d_inner), so that the d_inner attention batches
        are the contiguous (vectorized) axis.

        Args:
          x: (K, d_inner, d_state) states; tokens are tracks, one attention batch per channel.
          pos_emb: (d_inner, d_state) scaled channel position embedding (query and key only).
          num_live: T, live tracks in slots 0..T-1.

        Returns:
          (K, d_inner, d_state).
        """
        cfg = self.config
        n = cfg.d_state
        x = x.transpose(2, 0, 1)  # (K, d_in, n) -> (n, K, d_in)
        pos_emb = pos_emb.T[:, None, :]  # (d_in, n) -> (n, 1, d_in)
        for i in range(cfg.num_attn_layers):
            residual = x
            normed = features_first_layer_norm(x, *LayerNormParams(n, name=f"pre_norms_{i}")())
            normed = normed + pos_emb
            attn = SynchronizationAttention(
                n,
                cfg.num_heads,
                cfg.official_head_split,
                features_first=True,
                name=f"self_attn_layers_{i}",
            )
            x = attn(normed, normed, residual, num_live)
            x = features_first_layer_norm(x + residual, *LayerNormParams(n, name=f"norms_{i}")())
            x = FFN(n, cfg.ffn_dim, features_first=True, name=f"ffn_layers_{i}")(x)
        return x.transpose(1, 2, 0)  # (n, K, d_in) -> (K, d_in, n)

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
        cfg = self.config
        d_in, n, rank = cfg.d_inner, cfg.d_state, cfg.rank
        inputs_and_res = dense(2 * d_in, cfg.d_model, use_bias=cfg.bias, name="in_proj")(
            inputs
        )  # (K, 2 d_in)
        u, res = jnp.split(inputs_and_res, 2, axis=-1)  # (K, d_in) each

        # Roll the history left and write the current input in the last slot.
        conv_history = jnp.concatenate([conv_history[:, 1:], u[:, None]], axis=1)  # (K, l, d_in)
        if cfg.with_conv:
            conv = nn.Conv(
                d_in,
                kernel_size=(cfg.d_conv,),
                padding="VALID",
                feature_group_count=d_in,
                use_bias=cfg.conv_bias,
                kernel_init=XAVIER,
                bias_init=torch_uniform_bias(cfg.d_conv),
                precision=HIGHEST,
                name="conv1d",
            )
            u = conv(conv_history)[:, 0]  # (K, 1, d_in) -> (K, d_in); needs l == d_conv
        else:
            u = conv_history[:, -1]
        u = nn.silu(u)
        if cfg.with_input_layernorm:
            u = layer_norm("input_layernorm")(u)

        # State-space parameters; A and the state stay float32.
        # Official quirk: A_log is (d_in, n), so the updater's reset_parameters overwrites the
        # Mamba initialization log(1..n) with xavier_uniform.
        A_log = self.param("A_log", XAVIER, (d_in, n))
        D = self.param("D", nn.initializers.ones_init(), (d_in,))
        A = -jnp.exp(A_log.astype(jnp.promote_types(A_log.dtype, jnp.float32)))  # (d_in, n)
        dt_b_c = nn.Dense(
            rank + 2 * n,
            use_bias=False,
            kernel_init=XAVIER,
            name="x_proj",
        )(u)  # (K, rank + 2n)
        dt, B, C = jnp.split(dt_b_c, [rank, rank + n], axis=-1)  # (K, rank), (K, n), (K, n)
        if cfg.inner_layernorms:
            dt = layer_norm("dt_layernorm")(dt)
            B = layer_norm("B_layernorm")(B)
            C = layer_norm("C_layernorm")(C)
        delta = jax.nn.softplus(dense(d_in, rank, name="dt_proj")(dt)) / rate  # (K, d_in)

        delta_a, delta_b_u = selective_scan.discretize(delta, A, B, u)  # (K, d_in, n) each
        # Synchronization parameters exist (as in the official block) even when it is off.
        position_embedding = self.param("position_embedding", XAVIER, (d_in, n))
        pos_emb_scaling = self.param("pos_emb_scaling", nn.initializers.zeros_init(), (1,))
        sync_scaling = jnp.exp(self.param("sync_scaling", nn.initializers.zeros_init(), (1,)))
        pos_emb = position_embedding * jnp.exp(pos_emb_scaling)  # (d_in, n)

        x = hidden_state.astype(jnp.promote_types(hidden_state.dtype, jnp.float32))
        if cfg.with_self_attn:
            if cfg.with_self_attn_prior:
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
        out = dense(cfg.d_model, d_in, use_bias=cfg.bias, name="out_proj")(y)  # (K, d_model)
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

    config: SambaConfig = SambaConfig()

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
        cfg = self.config
        if conv_history.shape[2] != cfg.d_conv:
            raise ValueError(f"conv history length {conv_history.shape[2]} != d_conv {cfg.d_conv}")
        states, histories = [], []
        for i in range(cfg.num_layers):
            if query_pos is not None:
                query = query + query_pos
            mixer = SambaBlock(cfg, parent=None)
            query, h, c = ResidualBlock(mixer, name=f"layers_{i}")(
                query, hidden_state[:, i], conv_history[:, i], num_live, rate
            )
            states.append(h)
            histories.append(c)
        out = layer_norm("norm_f")(query)
        return out, jnp.stack(states, axis=1), jnp.stack(histories, axis=1)
