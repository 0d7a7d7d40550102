"""Functional attention math for the rotary attention modules (inputs already rotated).

Two layouts: padded ``(B, H, N, Dh)`` tensors with a boolean mask (:func:`masked_attention`), and
flat tokens each owned by one segment (:func:`segment_attention`), which avoids padding when
segments are many, short and unequal (POSSM: the spikes of each 50 ms chunk). Queries that can
see no key at all get a zero output instead of NaN, so an empty chunk or a fully masked row is
harmless.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


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


def count_attention(q: Tensor, k: Tensor, v: Tensor, counts: Tensor, dropout_p: float = 0.0) -> Tensor:
    """Segment attention for tokens that differ only by their key row, given as counts.

    ``q (Nq, H, Dh)`` shared by every segment, ``k, v (R, H, Dh)`` one row per token kind,
    ``counts (S, R)`` how many tokens of each kind segment s holds. Returns ``(S, Nq, H, Dh)``:
    the same as :func:`segment_attention` over the tokens themselves (a kind held c times weighs
    c in the softmax: log c added to its score), at O(S * Nq * H * R) with no per-token work.
    The layout for binned threshold crossings read at their own bin width: every token of a
    chunk sits at the chunk's centre, so the chunk is its count per unit. Segments without
    tokens give zeros.
    """
    scores = torch.einsum("qhd,rhd->qhr", q, k) * (q.shape[-1] ** -0.5)
    present = counts > 0
    any_token = present.any(dim=-1, keepdim=True)
    # log count of each present kind; an empty segment's row stays finite and is zeroed after
    log_count = torch.where(present, counts.clamp_min(1).log(), torch.where(any_token, -torch.inf, 0.0))
    weights = torch.softmax(scores.unsqueeze(0) + log_count[:, None, None, :], dim=-1)  # (S, Nq, H, R)
    weights = weights * any_token[:, None, None, :].to(weights.dtype)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    return torch.einsum("sqhr,rhd->sqhd", weights, v)
