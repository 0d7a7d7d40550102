"""Rotary cross- and self-attention and their pre-norm residual blocks (POSSM and POYO).

* Attention: ``softmax((R(t_q) q) . (R(t_k) k) / sqrt(d))`` depends only on ``t_k - t_q``.
  With value rotation, values are rotated by their key time and the attention output is
  counter-rotated by the query time: ``z_q = R(-t_q) sum_k a_qk R(t_k) v_k = sum_k a_qk R(t_k - t_q) v_k``,
  so the output itself carries relative timing (and is invariant to a global time shift).
* Layer norms live in the *blocks* (:class:`RotaryCrossAttentionBlock`,
  :class:`RotarySelfAttentionBlock`): ``x = x + Attn(LN(x), LN(ctx)); x = x + FF(LN(x))``. The
  attention modules take inputs that are already normalised, which lets a caller normalise and
  project a context once and reuse the rotated keys/values (:meth:`RotaryCrossAttention.project_context`).

Rotations are phasors from :class:`bench.nn.rotary.embedding.RotaryTimeEmbedding`.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from bench.nn.feedforward import FeedForward
from bench.nn.rotary.embedding import apply_rotary
from bench.nn.rotary.kernels import count_attention, masked_attention, segment_attention


def _heads_rot(rot: Tensor) -> Tensor:
    """Insert the head axis: ``(..., N, P)`` -> ``(..., N, 1, P)``."""
    return rot.unsqueeze(-2)


def _output(attn: "RotaryCrossAttention | RotarySelfAttention", out: Tensor, query_rot: Tensor) -> Tensor:
    """Heads merged and projected; with value rotation first counter-rotated by the query time,
    so the output carries only relative timing. ``out``: token-major ``(..., Nq, H, Dh)``."""
    if attn.rotate_value:
        out = apply_rotary(out, _heads_rot(query_rot), inverse=True)
    return attn.to_out(out.flatten(-2))


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

    def forward(
        self,
        x_query: Tensor,
        query_rot: Tensor,
        kv: tuple[Tensor, Tensor],
        context_mask: Optional[Tensor] = None,
        attn_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """Padded layout; the context comes as keys/values from :meth:`project_context`, so that
        a caller (the block) normalises and projects a context once however often it is read.

        Shapes: ``x_query (B, Nq, D)``, ``query_rot (B, Nq, P)`` (complex), ``kv`` two
        ``(B, Nc, H, Dh)``, ``context_mask (B, Nc)`` bool (True = real token), ``attn_mask
        (B, Nq, Nc)`` or ``(B, H, Nq, Nc)`` bool (True = may attend). Returns ``(B, Nq, D)``.
        """
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
        return _output(self, out.transpose(1, 2), query_rot)

    def forward_segments(self, x_query: Tensor, query_rot: Tensor, kv: tuple[Tensor, Tensor], segment: Tensor) -> Tensor:
        """Segment layout: ``x_query (S, Nq, D)``, ``query_rot (S, Nq, P)``, ``kv`` flat
        ``(N, H, Dh)`` pairs from :meth:`project_context` / :meth:`rotate_kv`, ``segment (N,)``.
        Each segment's queries see only that segment's tokens (see :func:`segment_attention`)."""
        q = self._query(x_query, query_rot)
        out = segment_attention(q, kv[0], kv[1], segment, self.dropout if self.training else 0.0)
        return _output(self, out, query_rot)

    def forward_counts(self, x_query: Tensor, query_rot: Tensor, kv: tuple[Tensor, Tensor], counts: Tensor) -> Tensor:
        """Count layout (see :func:`count_attention`): ``x_query (Nq, D)`` and ``query_rot (Nq, P)``
        shared by all segments, ``kv`` two ``(R, H, Dh)`` rows, ``counts (S, R)``; returns ``(S, Nq, D)``."""
        q = self._query(x_query, query_rot)
        out = count_attention(q, kv[0], kv[1], counts, self.dropout if self.training else 0.0)
        return _output(self, out, query_rot)


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
        return _output(self, out.transpose(1, 2), rot)


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
        self.ff = FeedForward(dim, mult=ff_mult, dropout=ff_dropout)

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
            self.norm_query(x_query), query_rot, kv, context_mask=context_mask, attn_mask=attn_mask
        )
        return x + self.ff(x)

    def forward_segments(self, x_query: Tensor, query_rot: Tensor, kv: tuple[Tensor, Tensor], segment: Tensor) -> Tensor:
        """Segment layout (see :meth:`RotaryCrossAttention.forward_segments`); ``kv`` from :meth:`context_kv`
        or the attention's ``rotate_kv``."""
        x = x_query + self.attn.forward_segments(self.norm_query(x_query), query_rot, kv, segment)
        return x + self.ff(x)

    def forward_counts(self, x_query: Tensor, query_rot: Tensor, kv: tuple[Tensor, Tensor], counts: Tensor) -> Tensor:
        """Count layout (see :meth:`RotaryCrossAttention.forward_counts`): ``(Nq, D)`` queries -> ``(S, Nq, D)``."""
        x = x_query + self.attn.forward_counts(self.norm_query(x_query), query_rot, kv, counts)
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
        self.ff = FeedForward(dim, mult=ff_mult, dropout=ff_dropout)

    def forward(self, x: Tensor, rot: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        x = x + self.attn(self.norm(x), rot, mask)
        return x + self.ff(x)
