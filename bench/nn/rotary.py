"""Rotary time attention shared by POYO and POSSM.

Specification: POYO paper (Azabou et al. 2023), appendix A.1, and the POSSM description.

* Rotary time embedding (RoPE on continuous timestamps, in seconds). The head dimension is cut
  into adjacent pairs ``(2i, 2i+1)``; pair ``i`` is rotated by ``R(t, T_i)`` =
  ``[[cos 2 pi t/T_i, -sin 2 pi t/T_i], [sin 2 pi t/T_i, cos 2 pi t/T_i]]`` (the paper's
  block-diagonal ``R(t)``). Only the first ``rotate_fraction`` of the head dims is rotated
  (PerceiverIO/POYO: half); the other pairs are identity blocks. The periods of the rotated pairs
  are log-spaced from ``t_min`` to ``t_max``, both included (``endpoint=False`` gives the
  RoFormer-style ``T_i = t_min (t_max/t_min)^(i/n)`` that stops one step short of ``t_max``).
  A rotation is carried as a complex "phasor" tensor ``exp(i 2 pi t / T)`` of shape
  ``(..., head_dim // 2)`` (``1 + 0j`` on the identity pairs), so applying it is a single complex
  multiply and its inverse is the conjugate. Compute it once per set of timestamps and share it
  across layers.
* Attention: ``softmax((R(t_q) q) . (R(t_k) k) / sqrt(d))`` depends only on ``t_k - t_q``.
  With value rotation, values are rotated by their key time and the attention output is
  counter-rotated by the query time: ``z_q = R(-t_q) sum_k a_qk R(t_k) v_k = sum_k a_qk R(t_k - t_q) v_k``,
  so the output itself carries relative timing (and is invariant to a global time shift).
* Layer norms live in the *blocks* (:class:`RotaryCrossAttentionBlock`,
  :class:`RotarySelfAttentionBlock`): ``x = x + Attn(LN(x), LN(ctx)); x = x + FF(LN(x))``. The
  attention modules take inputs that are already normalised, which lets a caller normalise and
  project a context once and reuse the rotated keys/values (:meth:`RotaryCrossAttention.project_context`).

Two batch layouts give identical results:

* padded: ``(B, N, D)`` tensors plus a boolean ``context_mask`` (True = real token) and optional
  ``attn_mask`` (e.g. from :func:`recent_keys_mask`);
* packed: all samples concatenated on one token axis, with ``cu_seqlens`` offsets (``[0, n_0,
  n_0 + n_1, ...]``). Attention is block-diagonal. On CPU there is no varlen attention kernel,
  and padding the whole batch to its longest sample wastes compute and memory quadratically when
  lengths are very unequal (long recordings next to short ones). :func:`varlen_attention`
  therefore sorts the samples by length and packs them into a few groups whose padded cost stays
  within ``max_waste`` times the exact cost; each group is one ``scaled_dot_product_attention`` call.
  Equal lengths take a zero-copy fast path (one call, no gather).

Queries that can see no key at all (empty context, or a mask that hides every key) get a zero
attention output (so the module output is ``to_out.bias``) instead of NaN.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.nn.feedforward import FeedForward

__all__ = [
    "logspace_periods",
    "RotaryTimeEmbedding",
    "apply_rotary",
    "apply_inverse_rotary",
    "recent_keys_mask",
    "masked_attention",
    "segment_attention",
    "varlen_attention",
    "RotaryCrossAttention",
    "RotarySelfAttention",
    "RotaryCrossAttentionBlock",
    "RotarySelfAttentionBlock",
]

_TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------------------------
# Rotary time embedding
# --------------------------------------------------------------------------------------------


def logspace_periods(num: int, t_min: float, t_max: float, endpoint: bool = True) -> Tensor:
    """``num`` periods log-spaced from ``t_min`` (float64, so that large angles stay exact).

    ``endpoint=True``: ``T_i = t_min (t_max/t_min)^(i/(num-1))``, both ends included.
    ``endpoint=False``: ``T_i = t_min (t_max/t_min)^(i/num)`` (RoFormer/POYO-formula style).
    """
    if num <= 0:
        return torch.zeros(0, dtype=torch.float64)
    if not (0 < t_min <= t_max):
        raise ValueError(f"need 0 < t_min <= t_max, got {t_min}, {t_max}")
    i = torch.arange(num, dtype=torch.float64)
    denom = (num - 1 if endpoint else num) or 1
    return t_min * (t_max / t_min) ** (i / denom)


class RotaryTimeEmbedding(nn.Module):
    """Turns timestamps (seconds) into rotations for :func:`apply_rotary`.

    Args:
        head_dim: attention head dimension (even).
        t_min, t_max: shortest and longest rotation period in seconds (POSSM: 1e-4 s and 10 s;
            the POYO paper: 1 ms and 4 s).
        rotate_fraction: fraction of the head dims that is rotated (0.5: head_dim/2 dims form
            head_dim/4 rotation pairs, the remaining dims pass through unchanged).
        endpoint: whether the largest period equals ``t_max`` (see :func:`logspace_periods`).

    ``forward(t)`` returns the complex phasor ``exp(i * 2 pi * t / T_j)`` of shape
    ``t.shape + (head_dim // 2,)`` (identity ``1 + 0j`` for the pairs that are not rotated).
    Angles, cosines and sines are computed in float64 before the cast, so rotations stay exact
    for timestamps far from zero (a float32 product ``t * omega`` is already ~1e-3 rad off at
    t = 1 s for the 0.1 ms period). The timestamps themselves should be float64 or
    window-relative if they are large: float32 cannot resolve 0.1 ms at t = 3600 s.
    """

    def __init__(
        self,
        head_dim: int,
        t_min: float = 1e-4,
        t_max: float = 10.0,
        rotate_fraction: float = 0.5,
        endpoint: bool = True,
    ) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head_dim must be even, got {head_dim}")
        rotate_dim = int(round(head_dim * rotate_fraction))
        if rotate_dim % 2 or not 0 <= rotate_dim <= head_dim:
            raise ValueError(f"head_dim * rotate_fraction must be an even number <= head_dim, got {rotate_dim}")
        self.head_dim = head_dim
        self.rotate_dim = rotate_dim
        self.n_pairs = rotate_dim // 2
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.endpoint = endpoint
        periods = logspace_periods(self.n_pairs, t_min, t_max, endpoint)
        # Plain float64 attributes, not buffers: ``module.float()`` must not truncate them.
        self.periods: Tensor = periods
        # zero frequency for the identity pairs: angle exactly 0, phasor exactly 1 + 0j
        self._omega64: Tensor = torch.cat(
            (_TWO_PI / periods, torch.zeros(head_dim // 2 - self.n_pairs, dtype=torch.float64))
        )

    def _omega_full(self, device: torch.device) -> Tensor:
        if self._omega64.device != device:
            self._omega64 = self._omega64.to(device)
        return self._omega64

    def omega(self, device: torch.device | str | None = None) -> Tensor:
        """Angular frequencies ``2 pi / T_j`` of the rotated pairs (float64, shape ``(n_pairs,)``)."""
        device = torch.device(device) if device is not None else self._omega64.device
        return self._omega_full(device)[: self.n_pairs]

    def angles(self, timestamps: Tensor) -> Tensor:
        """Rotation angles ``2 pi t / T_j mod 2 pi`` in float64, shape ``t.shape + (n_pairs,)``."""
        omega = self.omega(timestamps.device)
        return torch.remainder(timestamps.to(torch.float64).unsqueeze(-1) * omega, _TWO_PI)

    def forward(self, timestamps: Tensor, dtype: torch.dtype = torch.complex64) -> Tensor:
        """Phasors ``exp(i 2 pi t / T_j)``, shape ``t.shape + (head_dim // 2,)``, complex ``dtype``.

        The pairs that are not rotated get the phasor ``1 + 0j`` (exact identity), so that
        :func:`apply_rotary` is one full-width complex multiply with no slicing or concatenation.
        """
        a = timestamps.to(torch.float64).unsqueeze(-1) * self._omega_full(timestamps.device)
        if dtype == torch.complex128:
            return torch.complex(torch.cos(a), torch.sin(a))
        if dtype != torch.complex64:
            raise ValueError(f"dtype must be complex64 or complex128, got {dtype}")
        # cos/sin in float64 (exact range reduction for large angles), then cast
        return torch.complex(torch.cos(a).float(), torch.sin(a).float())

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, rotate_dim={self.rotate_dim}, t_min={self.t_min}, "
            f"t_max={self.t_max}, endpoint={self.endpoint}"
        )


def apply_rotary(x: Tensor, rot: Tensor, inverse: bool = False) -> Tensor:
    """Rotate the first ``2 * rot.shape[-1]`` dims of ``x`` pairwise by the phasor ``rot``.

    ``x``: ``(..., head_dim)`` real; ``rot``: complex, broadcastable to ``x.shape[:-1] + (n_pairs,)``
    (insert singleton axes for heads yourself). ``inverse=True`` applies ``R(-t)`` (the
    counter-rotation). Pair ``(x0, x1)`` maps to ``(c x0 - s x1, s x0 + c x1)``.
    """
    p = rot.shape[-1]
    r = 2 * p
    if p == 0:
        return x
    xr = x[..., :r]
    if x.dtype in (torch.float32, torch.float64):
        ctype = torch.complex64 if x.dtype == torch.float32 else torch.complex128
        if rot.dtype != ctype:
            rot = rot.to(ctype)
        if inverse:
            rot = rot.conj()
        pairs = xr.unflatten(-1, (p, 2))
        try:
            xc = torch.view_as_complex(pairs)
        except RuntimeError:  # strides not compatible with a complex view
            xc = torch.view_as_complex(pairs.contiguous())
        yr = torch.view_as_real(xc * rot).flatten(-2)
    else:  # half precision: complex32 is poorly supported, use real arithmetic
        c = rot.real.to(x.dtype)
        s = rot.imag.to(x.dtype)
        if inverse:
            s = -s
        x0, x1 = xr.unflatten(-1, (p, 2)).unbind(-1)
        yr = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)
    if r == x.shape[-1]:
        return yr
    return torch.cat((yr, x[..., r:]), dim=-1)


def apply_inverse_rotary(x: Tensor, rot: Tensor) -> Tensor:
    """Counter-rotation ``R(-t) x`` (undoes :func:`apply_rotary` with the same ``rot``)."""
    return apply_rotary(x, rot, inverse=True)


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


def recent_keys_mask(
    query_times: Tensor,
    key_times: Tensor,
    k: int,
    key_valid: Optional[Tensor] = None,
    include_current: bool = True,
) -> Tensor:
    """Boolean mask ``(..., n_query, n_key)``: which keys each query may attend (True = allowed).

    Made for POSSM's output attention. Keys are backbone outputs stamped at chunk *ends*; the
    key at time ``te`` summarises chunk ``[te - chunk, te)``. A query at time ``tq`` lies in the
    chunk whose end is the first key time strictly greater than ``tq`` (a query exactly on a chunk
    boundary belongs to the chunk that starts there). Rule, with keys ranked by time among the
    valid keys and ``r(tq)`` = number of valid keys with ``key_time <= tq`` (chunks already
    finished at ``tq``):

    * ``include_current=True`` (POSSM): allowed ranks are ``r - k + 1 .. r``, i.e. the query's own
      chunk (rank ``r``) and the ``k - 1`` chunks before it. A query after the last key sees the
      last ``k - 1`` keys; a query in the first chunk sees only that chunk.
    * ``include_current=False`` (strictly causal): allowed ranks are ``r - k .. r - 1``, i.e. the
      ``k`` most recent keys with ``key_time <= tq``.

    Only comparisons ``key_time <= query_time`` are made, so the rule needs no chunk length and is
    exact for any representable times (pass integer times, e.g. in samples, to avoid float
    round-off at chunk boundaries). Keys need not be sorted; ties are ranked by index.

    Args:
        query_times: ``(..., n_query)``; key_times: ``(..., n_key)`` (batch dims broadcast).
        k: number of keys (chunks) visible to each query, >= 1.
        key_valid: ``(..., n_key)`` bool, False for padding keys (never visible, not counted).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if key_valid is None:
        key_valid = torch.ones(key_times.shape, dtype=torch.bool, device=key_times.device)
    else:
        key_valid = key_valid.to(torch.bool).expand(key_times.shape)
    # rank of each key among the valid keys, in time order
    order = torch.argsort(key_times, dim=-1, stable=True)
    valid_sorted = key_valid.gather(-1, order).to(torch.long)
    rank_sorted = valid_sorted.cumsum(-1) - 1
    rank = torch.empty_like(rank_sorted).scatter_(-1, order, rank_sorted)  # (..., n_key)
    done = ((key_times.unsqueeze(-2) <= query_times.unsqueeze(-1)) & key_valid.unsqueeze(-2)).sum(-1)
    hi = done if include_current else done - 1  # (..., n_query)
    lo = hi - (k - 1)
    rank = rank.unsqueeze(-2)
    return (rank >= lo.unsqueeze(-1)) & (rank <= hi.unsqueeze(-1)) & key_valid.unsqueeze(-2)


# --------------------------------------------------------------------------------------------
# Attention kernels
# --------------------------------------------------------------------------------------------


def masked_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor] = None, dropout_p: float = 0.0
) -> Tensor:
    """``scaled_dot_product_attention`` on ``(B, H, N, Dh)`` with a boolean ``mask`` (True = attend).

    Query rows whose mask hides every key return zeros instead of NaN.
    """
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
    row_ok = mask.any(dim=-1, keepdim=True)
    if bool(row_ok.all()):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~row_ok, dropout_p=dropout_p)
    return out * row_ok.to(out.dtype)


def segment_attention(q: Tensor, k: Tensor, v: Tensor, segment: Tensor, dropout_p: float = 0.0) -> Tensor:
    """Attention where each token belongs to one segment and is seen only by that segment's queries.

    ``q (S, Nq, H, Dh)``, ``k, v (N, H, Dh)`` flat over all segments, ``segment (N,)`` int in
    ``[0, S)``. Returns ``(S, Nq, H, Dh)``; segments without tokens give zeros. Costs
    O(N * Nq * H * Dh) with no padding at all: the layout for many short, unequal segments
    (e.g. the spikes of each 50 ms chunk attended by that chunk's latents).
    """
    n_seg = q.shape[0]
    # elementwise rather than einsum: einsum becomes a bmm over N tiny matrices, several x slower
    scores = (q[segment] * k.unsqueeze(1)).sum(-1) * (q.shape[-1] ** -0.5)  # (N, Nq, H)
    idx = segment.view(-1, 1, 1).expand_as(scores)
    peak = torch.full((n_seg,) + scores.shape[1:], -torch.inf, dtype=scores.dtype, device=scores.device)
    peak = peak.scatter_reduce(0, idx, scores.detach(), reduce="amax", include_self=True)
    weights = torch.exp(scores - peak[segment])
    total = torch.zeros_like(peak).index_add_(0, segment, weights)
    weights = weights / total[segment]
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    out = torch.zeros(q.shape, dtype=v.dtype, device=v.device)
    return out.index_add_(0, segment, weights.unsqueeze(-1) * v.unsqueeze(1))


def _lengths(cu_seqlens: Tensor) -> list[int]:
    return (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()


def _plan_groups(lq: Sequence[int], lk: Sequence[int], max_waste: float, slack: int) -> list[list[int]]:
    """Greedy grouping of samples (sorted by key length) so that each group's padded cost
    ``n * max_lq * max_lk`` stays <= ``max_waste * sum(lq * lk) + slack``."""
    items = sorted((i for i in range(len(lq)) if lq[i] > 0 and lk[i] > 0), key=lambda i: (lk[i], lq[i]))
    groups: list[list[int]] = []
    cur: list[int] = []
    cost = 0
    mq = 0
    for i in items:
        n_cost = cost + lq[i] * lk[i]
        n_mq = max(mq, lq[i])
        if cur and (len(cur) + 1) * n_mq * lk[i] > max_waste * n_cost + slack:
            groups.append(cur)
            cur, cost, mq = [i], lq[i] * lk[i], lq[i]
        else:
            cur.append(i)
            cost, mq = n_cost, n_mq
    if cur:
        groups.append(cur)
    return groups


def _pad_index(starts: Tensor, lengths: Tensor, max_len: int) -> tuple[Tensor, Tensor]:
    ar = torch.arange(max_len, device=starts.device)
    valid = ar < lengths.unsqueeze(-1)
    idx = torch.where(valid, starts.unsqueeze(-1) + ar, torch.zeros((), dtype=ar.dtype, device=ar.device))
    return idx, valid


def varlen_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    cu_seqlens_q: Tensor,
    cu_seqlens_k: Tensor,
    dropout_p: float = 0.0,
    max_waste: float = 1.25,
    slack: int = 16384,
) -> Tensor:
    """Block-diagonal attention over packed sequences.

    ``q``: ``(Tq, H, Dh)``, ``k``/``v``: ``(Tk, H, Dh)``; sample ``b`` owns query rows
    ``cu_seqlens_q[b]:cu_seqlens_q[b+1]`` and key rows ``cu_seqlens_k[b]:cu_seqlens_k[b+1]``.
    Samples are grouped by length (see module docstring); ``max_waste`` bounds padded / exact
    attention cost per group and ``slack`` (query-key pairs) lets tiny samples share a call
    rather than pay one kernel launch each. Queries of samples without keys get zeros.
    """
    tq, h, dh = q.shape
    lq = _lengths(cu_seqlens_q)
    lk = _lengths(cu_seqlens_k)
    if len(lq) != len(lk):
        raise ValueError("cu_seqlens_q and cu_seqlens_k describe different batch sizes")
    if sum(lq) != tq or sum(lk) != k.shape[0]:
        raise ValueError("cu_seqlens do not match the number of packed tokens")
    b = len(lq)
    if b > 0 and min(lk) > 0 and len(set(lq)) == 1 and len(set(lk)) == 1:
        # equal lengths: a view, one call, no padding
        nq, nk = lq[0], lk[0]
        out = F.scaled_dot_product_attention(
            q.reshape(b, nq, h, dh).transpose(1, 2),
            k.reshape(b, nk, h, dh).transpose(1, 2),
            v.reshape(b, nk, h, dh).transpose(1, 2),
            dropout_p=dropout_p,
        )
        return out.transpose(1, 2).reshape(tq, h, dh)

    groups = _plan_groups(lq, lk, max_waste, slack)
    device = q.device
    starts_q = cu_seqlens_q[:-1].to(device=device, dtype=torch.long)
    starts_k = cu_seqlens_k[:-1].to(device=device, dtype=torch.long)
    lens_q = torch.tensor(lq, device=device, dtype=torch.long)
    lens_k = torch.tensor(lk, device=device, dtype=torch.long)
    rows: list[Tensor] = []
    vals: list[Tensor] = []
    for grp in groups:
        sel = torch.tensor(grp, device=device, dtype=torch.long)
        iq, vq = _pad_index(starts_q[sel], lens_q[sel], max(lq[i] for i in grp))
        ik, vk = _pad_index(starts_k[sel], lens_k[sel], max(lk[i] for i in grp))
        mask = None if bool(vk.all()) else vk[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q[iq].transpose(1, 2),
            k[ik].transpose(1, 2),
            v[ik].transpose(1, 2),
            attn_mask=mask,
            dropout_p=dropout_p,
        ).transpose(1, 2)  # (g, max_lq, H, Dh)
        rows.append(iq[vq])
        vals.append(out[vq])
    res = q.new_zeros(tq, h, dh)
    if rows:
        res = res.index_copy(0, torch.cat(rows), torch.cat(vals))
    return res


# --------------------------------------------------------------------------------------------
# Attention modules
# --------------------------------------------------------------------------------------------


def _heads_rot(rot: Tensor) -> Tensor:
    """Insert the head axis: ``(..., N, P)`` -> ``(..., N, 1, P)``."""
    return rot.unsqueeze(-2)


class RotaryCrossAttention(nn.Module):
    """Multi-head cross-attention with rotary time embeddings (inputs already layer-normed).

    Args:
        dim: query width (and output width).
        context_dim: context width (defaults to ``dim``).
        heads, dim_head: number and width of heads (POSSM input attention: 1 x 64).
        dropout: attention-probability dropout (training only).
        rotate_value: rotate values by key time and counter-rotate outputs by query time
            (POYO encoder: True, POYO decoder: False).

    Rotations are phasors from :class:`RotaryTimeEmbedding` with ``n_pairs <= dim_head / 2``.
    Parameters: ``to_q`` (no bias), ``to_kv`` (no bias, keys then values), ``to_out`` (bias).
    """

    def __init__(
        self,
        dim: int,
        context_dim: Optional[int] = None,
        *,
        heads: int = 1,
        dim_head: int = 64,
        dropout: float = 0.0,
        rotate_value: bool = False,
    ) -> None:
        super().__init__()
        context_dim = dim if context_dim is None else context_dim
        inner = heads * dim_head
        self.heads = heads
        self.dim_head = dim_head
        self.dropout = dropout
        self.rotate_value = rotate_value
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def project_context(self, x_context: Tensor, context_rot: Tensor) -> tuple[Tensor, Tensor]:
        """Rotated keys and (optionally rotated) values, token-major ``(..., N, H, Dh)``.

        Cache the result to reuse a context for several query steps (pass it as ``kv``).
        """
        return self.rotate_kv(self.to_kv(x_context), context_rot)

    def rotate_kv(self, kv: Tensor, context_rot: Tensor) -> tuple[Tensor, Tensor]:
        """Rotate already projected ``to_kv`` outputs ``(..., N, 2 * H * Dh)`` by their token times.

        Lets a model project a small table once (e.g. one row per unit: the context of a spike
        token depends only on its unit) and gather rows per token, instead of projecting every
        token: the projection is per token, so the result is the same.
        """
        kv = kv.unflatten(-1, (2, self.heads, self.dim_head))  # (..., N, 2, H, Dh)
        rot = context_rot.unsqueeze(-2).unsqueeze(-2)  # (..., N, 1, 1, P)
        if self.rotate_value:
            k, v = apply_rotary(kv, rot).unbind(-3)  # unbind: one gradient buffer, not one per select
            return k, v
        k, v = kv.unbind(-3)
        return apply_rotary(k, _heads_rot(context_rot)), v

    def _query(self, x_query: Tensor, query_rot: Tensor) -> Tensor:
        q = self.to_q(x_query).unflatten(-1, (self.heads, self.dim_head))
        return apply_rotary(q, _heads_rot(query_rot))

    def _finish(self, out: Tensor, query_rot: Tensor) -> Tensor:
        """``out``: token-major ``(..., Nq, H, Dh)``."""
        if self.rotate_value:
            out = apply_rotary(out, _heads_rot(query_rot), inverse=True)
        return self.to_out(out.flatten(-2))

    def forward(
        self,
        x_query: Tensor,
        x_context: Optional[Tensor],
        query_rot: Tensor,
        context_rot: Optional[Tensor],
        context_mask: Optional[Tensor] = None,
        attn_mask: Optional[Tensor] = None,
        kv: Optional[tuple[Tensor, Tensor]] = None,
    ) -> Tensor:
        """Padded layout.

        Shapes: ``x_query (B, Nq, D)``, ``x_context (B, Nc, Dc)``, ``query_rot (B, Nq, P)``,
        ``context_rot (B, Nc, P)`` (complex), ``context_mask (B, Nc)`` bool (True = real token),
        ``attn_mask (B, Nq, Nc)`` or ``(B, H, Nq, Nc)`` bool (True = may attend). ``kv``: output
        of :meth:`project_context`, replaces ``x_context``/``context_rot``. Returns ``(B, Nq, D)``.
        """
        if kv is None:
            if x_context is None or context_rot is None:
                raise ValueError("give x_context and context_rot, or precomputed kv")
            kv = self.project_context(x_context, context_rot)
        k, v = kv
        q = self._query(x_query, query_rot)
        mask = None
        if context_mask is not None:
            mask = context_mask.to(torch.bool)[:, None, None, :]
        if attn_mask is not None:
            am = attn_mask.to(torch.bool)
            am = am.unsqueeze(1) if am.dim() == 3 else am
            mask = am if mask is None else mask & am
        out = masked_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            mask,
            self.dropout if self.training else 0.0,
        )
        return self._finish(out.transpose(1, 2), query_rot)

    def forward_segments(self, x_query: Tensor, query_rot: Tensor, kv: tuple[Tensor, Tensor], segment: Tensor) -> Tensor:
        """Segment layout: ``x_query (S, Nq, D)``, ``query_rot (S, Nq, P)``, ``kv`` flat
        ``(N, H, Dh)`` pairs from :meth:`project_context` / :meth:`rotate_kv`, ``segment (N,)``.
        Each segment's queries see only that segment's tokens (see :func:`segment_attention`)."""
        q = self._query(x_query, query_rot)
        out = segment_attention(q, kv[0], kv[1], segment, self.dropout if self.training else 0.0)
        return self._finish(out, query_rot)

    def forward_packed(
        self,
        x_query: Tensor,
        x_context: Optional[Tensor],
        query_rot: Tensor,
        context_rot: Optional[Tensor],
        cu_seqlens_query: Tensor,
        cu_seqlens_context: Tensor,
        kv: Optional[tuple[Tensor, Tensor]] = None,
        max_waste: float = 1.25,
    ) -> Tensor:
        """Packed layout: ``x_query (Tq, D)``, ``x_context (Tc, Dc)``, ``query_rot (Tq, P)``,
        ``context_rot (Tc, P)``, ``cu_seqlens_* (B + 1,)`` int offsets. Returns ``(Tq, D)``."""
        if kv is None:
            if x_context is None or context_rot is None:
                raise ValueError("give x_context and context_rot, or precomputed kv")
            kv = self.project_context(x_context, context_rot)
        k, v = kv
        q = self._query(x_query, query_rot)
        out = varlen_attention(
            q, k, v, cu_seqlens_query, cu_seqlens_context,
            dropout_p=self.dropout if self.training else 0.0, max_waste=max_waste,
        )
        return self._finish(out, query_rot)


class RotarySelfAttention(nn.Module):
    """Multi-head self-attention with rotary time embeddings (input already layer-normed).

    Same options as :class:`RotaryCrossAttention`; one ``to_qkv`` projection (no bias, order
    q, k, v) and ``to_out`` (bias). POYO uses ``rotate_value=True`` for its latent layers.
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int = 8,
        dim_head: int = 64,
        dropout: float = 0.0,
        rotate_value: bool = False,
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.dim_head = dim_head
        self.dropout = dropout
        self.rotate_value = rotate_value
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def _qkv(self, x: Tensor, rot: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        qkv = self.to_qkv(x).unflatten(-1, (3, self.heads, self.dim_head))  # (..., N, 3, H, Dh)
        r = rot.unsqueeze(-2).unsqueeze(-2)
        if self.rotate_value:
            qkv = apply_rotary(qkv, r)
            return qkv.select(-3, 0), qkv.select(-3, 1), qkv.select(-3, 2)
        qk = apply_rotary(qkv.narrow(-3, 0, 2), r)
        return qk.select(-3, 0), qk.select(-3, 1), qkv.select(-3, 2)

    def _finish(self, out: Tensor, rot: Tensor) -> Tensor:
        if self.rotate_value:
            out = apply_rotary(out, _heads_rot(rot), inverse=True)
        return self.to_out(out.flatten(-2))

    def forward(self, x: Tensor, rot: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Padded layout: ``x (B, N, D)``, ``rot (B, N, P)``; ``mask`` bool, either ``(B, N)``
        (key padding, True = real token) or ``(B, N, N)`` / ``(B, H, N, N)`` (True = may attend)."""
        q, k, v = self._qkv(x, rot)
        m = None
        if mask is not None:
            m = mask.to(torch.bool)
            m = m[:, None, None, :] if m.dim() == 2 else (m.unsqueeze(1) if m.dim() == 3 else m)
        out = masked_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), m,
            self.dropout if self.training else 0.0,
        )
        return self._finish(out.transpose(1, 2), rot)

    def forward_packed(self, x: Tensor, rot: Tensor, cu_seqlens: Tensor, max_waste: float = 1.25) -> Tensor:
        """Packed layout: ``x (T, D)``, ``rot (T, P)``, ``cu_seqlens (B + 1,)``. Returns ``(T, D)``."""
        q, k, v = self._qkv(x, rot)
        out = varlen_attention(
            q, k, v, cu_seqlens, cu_seqlens,
            dropout_p=self.dropout if self.training else 0.0, max_waste=max_waste,
        )
        return self._finish(out, rot)


# --------------------------------------------------------------------------------------------
# Pre-norm residual blocks
# --------------------------------------------------------------------------------------------


class RotaryCrossAttentionBlock(nn.Module):
    """``x = x + CrossAttn(LN(x), LN(ctx)); x = x + FF(LN(x))`` with a GEGLU feed-forward.

    POSSM input block (1 head, dim_head 64, value rotation) and POYO encoder/decoder blocks.
    """

    def __init__(
        self,
        dim: int,
        context_dim: Optional[int] = None,
        *,
        heads: int = 1,
        dim_head: int = 64,
        dropout: float = 0.0,
        rotate_value: bool = False,
        ff_mult: int = 4,
        ff_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        context_dim = dim if context_dim is None else context_dim
        self.norm_query = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim)
        self.attn = RotaryCrossAttention(
            dim, context_dim, heads=heads, dim_head=dim_head, dropout=dropout, rotate_value=rotate_value
        )
        self.ff = FeedForward(dim, mult=ff_mult, dropout=ff_dropout, norm=True)

    def context_kv(self, x_context: Tensor, context_rot: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised, projected and rotated keys/values, reusable as ``kv``."""
        return self.attn.project_context(self.norm_context(x_context), context_rot)

    def forward(
        self,
        x_query: Tensor,
        x_context: Optional[Tensor],
        query_rot: Tensor,
        context_rot: Optional[Tensor],
        context_mask: Optional[Tensor] = None,
        attn_mask: Optional[Tensor] = None,
        kv: Optional[tuple[Tensor, Tensor]] = None,
    ) -> Tensor:
        if kv is None:
            if x_context is None or context_rot is None:
                raise ValueError("give x_context and context_rot, or precomputed kv")
            kv = self.context_kv(x_context, context_rot)
        x = x_query + self.attn(
            self.norm_query(x_query), None, query_rot, None,
            context_mask=context_mask, attn_mask=attn_mask, kv=kv,
        )
        return x + self.ff(x)

    def forward_segments(self, x_query: Tensor, query_rot: Tensor, kv: tuple[Tensor, Tensor], segment: Tensor) -> Tensor:
        """Segment layout (see :meth:`RotaryCrossAttention.forward_segments`); ``kv`` from :meth:`context_kv`
        or the attention's ``rotate_kv``."""
        x = x_query + self.attn.forward_segments(self.norm_query(x_query), query_rot, kv, segment)
        return x + self.ff(x)

    def forward_packed(
        self,
        x_query: Tensor,
        x_context: Optional[Tensor],
        query_rot: Tensor,
        context_rot: Optional[Tensor],
        cu_seqlens_query: Tensor,
        cu_seqlens_context: Tensor,
        kv: Optional[tuple[Tensor, Tensor]] = None,
        max_waste: float = 1.25,
    ) -> Tensor:
        if kv is None:
            if x_context is None or context_rot is None:
                raise ValueError("give x_context and context_rot, or precomputed kv")
            kv = self.context_kv(x_context, context_rot)
        x = x_query + self.attn.forward_packed(
            self.norm_query(x_query), None, query_rot, None,
            cu_seqlens_query, cu_seqlens_context, kv=kv, max_waste=max_waste,
        )
        return x + self.ff(x)


class RotarySelfAttentionBlock(nn.Module):
    """``x = x + SelfAttn(LN(x)); x = x + FF(LN(x))`` (POYO latent layers, value rotation on)."""

    def __init__(
        self,
        dim: int,
        *,
        heads: int = 8,
        dim_head: int = 64,
        dropout: float = 0.0,
        rotate_value: bool = True,
        ff_mult: int = 4,
        ff_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = RotarySelfAttention(
            dim, heads=heads, dim_head=dim_head, dropout=dropout, rotate_value=rotate_value
        )
        self.ff = FeedForward(dim, mult=ff_mult, dropout=ff_dropout, norm=True)

    def forward(self, x: Tensor, rot: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        x = x + self.attn(self.norm(x), rot, mask)
        return x + self.ff(x)

    def forward_packed(self, x: Tensor, rot: Tensor, cu_seqlens: Tensor, max_waste: float = 1.25) -> Tensor:
        x = x + self.attn.forward_packed(self.norm(x), rot, cu_seqlens, max_waste=max_waste)
        return x + self.ff(x)
