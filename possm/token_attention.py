"""POSSM's input attention in the form that trains fast: per-unit score coefficients, not rotated keys.

The latents of a chunk sit at its centre (rotation: the identity) and a spike token's key is its
unit's projected key rotated by the token's offset ``dt`` from that centre. So the score of a
token against a latent is, summed over rotary pairs ``j``,
``cos(w_j dt) (q0 k0 + q1 k1) + sin(w_j dt) (q1 k0 - q0 k1)`` (pairs that are not rotated add
their plain dot product): a dot product of a per-unit row of ``1 + 2P`` coefficients, computed
once per batch for every unit (a table of ~100 rows), with the token's ``[1, cos, sin]`` phases,
which depend on the data only (``token_phases``; computed once per segment and cached in the
examples). The per-token work of rotating keys, gathering 64-wide keys and queries and taking
their products, forward and backward, becomes one gather of ``1 + 2P`` coefficients. Values
are rotated per token as before (one complex multiply on the rotated pairs). The streaming path
(:mod:`possm.streaming`) uses the same decomposition at batch 1.

Same function as :meth:`RotaryCrossAttention.forward_segments` on rotated keys and values (tests:
tests/possm/test_token_attention.py); the attention output is not counter-rotated, as its query
time is the chunk centre.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def token_phases(dt: Tensor, omega: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """(N, 2P) ``[cos(w_j dt)..., sin(w_j dt)...]`` of token offsets ``dt`` for the rotated pairs'
    angular frequencies ``omega`` (float64); angles formed in float64 as the rotary embedding
    forms them, then cast."""
    a = dt.to(torch.float64).unsqueeze(-1) * omega.to(dt.device)
    return torch.cat((torch.cos(a), torch.sin(a)), dim=-1).to(dtype)


def score_coefficients(q: Tensor, keys: Tensor, n_rot: int) -> Tensor:
    """``q (L, H, Dh)`` latent queries, ``keys (R, H, Dh)`` unrotated keys of the R token kinds ->
    ``(R, H * L, 1 + 2P)`` coefficients against the phases ``[1, cos, sin]``, scaled by 1/sqrt(Dh)."""
    L, H, Dh = q.shape
    qp = q.view(L, H, Dh // 2, 2).transpose(0, 1)  # (H, L, pairs, 2)
    kp = keys.reshape(-1, H, 1, Dh // 2, 2)
    q0, q1, k0, k1 = qp[..., 0], qp[..., 1], kp[..., 0], kp[..., 1]
    coef_cos = q0 * k0 + q1 * k1  # (R, H, L, pairs)
    coef_sin = q1 * k0 - q0 * k1
    constant = coef_cos[..., n_rot:].sum(-1, keepdim=True)
    coef = torch.cat((constant, coef_cos[..., :n_rot], coef_sin[..., :n_rot]), dim=-1) * Dh ** -0.5
    return coef.flatten(1, 2)


def value_table(values: Tensor, n_rot: int) -> Tensor:
    """``values (R, H, Dh)`` -> ``(R, 1 + 2P, H, Dh)``: what one unit of each phase feature
    ``[1, cos_j, sin_j]`` adds to the output from a token of kind r. The constant carries the
    unrotated pairs, ``cos_j`` pair j as it is, ``sin_j`` pair j turned by 90 degrees:
    ``R(a) v = cos(a) v + sin(a) J v`` pair by pair, with ``J (v0, v1) = (-v1, v0)``. Mostly
    zeros, but one matmul against it beats strided per-pair products on a CPU."""
    R, H, Dh = values.shape
    pairs = values.view(R, H, Dh // 2, 2)
    eye = torch.eye(n_rot, dtype=values.dtype, device=values.device).view(1, n_rot, 1, n_rot, 1)
    rot = pairs[:, :, :n_rot].unsqueeze(1)  # (R, 1, H, P, 2)
    cos_part = eye * rot  # (R, P, H, P, 2): feature j carries pair j
    sin_part = eye * torch.stack((-rot[..., 1], rot[..., 0]), dim=-1)
    rotated = torch.cat((cos_part, sin_part), dim=1).flatten(-2)  # (R, 2P, H, 2P)
    rotated = F.pad(rotated, (0, Dh - 2 * n_rot))
    constant = F.pad(values[:, :, 2 * n_rot :], (2 * n_rot, 0)).unsqueeze(1)  # (R, 1, H, Dh)
    return torch.cat((constant, rotated), dim=1)


def token_attention(q: Tensor, kv_table: Tensor, rows: Tensor, phases: Tensor, chunk: Tensor, n_chunks: int,
                    n_rot: int, dropout_p: float = 0.0, dense: bool | None = None) -> Tensor:
    """Attention of every chunk's latents to the chunk's tokens, value rotation on.

    ``q (L, H, Dh)`` latent queries (shared by all chunks, not rotated), ``kv_table (R, 2 * H * Dh)``
    projected keys then values per token kind, ``rows (N,)`` each token's row, ``phases (N, 2P)``
    from :func:`token_phases`, ``chunk (N,)`` each token's chunk in ``[0, n_chunks)``.
    Returns ``(n_chunks, L, H, Dh)``; chunks without tokens give zeros.

    Values: with ``dense`` (default: when chunks x token kinds is at most 4 x the tokens, as for
    one session's units) each token adds its attention weight times its phases to a (chunk,
    kind, phase) table, and one matmul with :func:`value_table` gives the outputs: per token,
    ``1 + 2P`` numbers instead of rotating, weighting and adding a ``Dh``-wide value. Otherwise
    the values are gathered and rotated per token.
    """
    L, H, Dh = q.shape
    R = kv_table.shape[0]
    kv = kv_table.view(R, 2, H, Dh)
    coef = score_coefficients(q, kv[:, 0], n_rot)  # (R, H*L, 1 + 2P)
    n = rows.shape[0]
    features = torch.cat((torch.ones_like(phases[:, :1]), phases), dim=1)  # (N, 1 + 2P)
    # elementwise, not a batched matmul: bmm over N tiny matrices is several times slower
    scores = (coef.index_select(0, rows) * features.unsqueeze(1)).sum(-1)  # (N, H*L)
    # softmax over the tokens of each chunk
    idx = chunk.unsqueeze(1).expand_as(scores)
    peak = torch.full((n_chunks, H * L), -torch.inf, dtype=scores.dtype, device=scores.device)
    peak = peak.scatter_reduce(0, idx, scores.detach(), reduce="amax", include_self=True)
    weights = torch.exp(scores - peak.index_select(0, chunk))
    total = torch.zeros_like(peak).index_add_(0, chunk, weights)
    weights = weights / total.index_select(0, chunk)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    if dense is None:
        dense = n_chunks * R <= 4 * max(n, 1)
    if dense:
        n_feat = features.shape[1]
        cell = chunk * R + rows
        table = torch.zeros((n_chunks * R, H * L, n_feat), dtype=features.dtype, device=features.device)
        table = table.index_add_(0, cell, weights.unsqueeze(-1) * features.unsqueeze(1))
        table = table.view(n_chunks, R, H, L, n_feat)
        return torch.einsum("crhlf,rfhd->clhd", table, value_table(kv[:, 1], n_rot))
    # values rotated by the token offsets (first P pairs)
    values = kv[:, 1].index_select(0, rows)  # (N, H, Dh)
    pairs = torch.view_as_complex(values.reshape(n, H, Dh // 2, 2))
    half = phases.shape[1] // 2
    phasor = torch.complex(phases[:, :half], phases[:, half:]).unsqueeze(1)  # (N, 1, P)
    rotated = torch.cat((pairs[..., :n_rot] * phasor, pairs[..., n_rot:]), dim=-1)
    values = torch.view_as_real(rotated).reshape(n, 1, H, Dh)
    w = weights.view(n, H, L).transpose(1, 2).unsqueeze(-1)  # (N, L, H, 1)
    out = torch.zeros((n_chunks, L, H, Dh), dtype=values.dtype, device=values.device)
    return out.index_add_(0, chunk, w * values)

