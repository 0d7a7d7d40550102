"""Shared helpers of the rotary tests: random weights everywhere and the paper's rotation matrix."""

from __future__ import annotations

import math

import torch

F64 = torch.float64
C128 = torch.complex128


def randomise(module: torch.nn.Module, std: float = 0.3) -> None:
    """Random weights everywhere (incl. layer norms), so no parameter is trivially neutral."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, std)
            if p.dim() == 1:  # layer-norm gains and biases around 1
                p.add_(1.0)


def paper_rotation_matrix(t: float, periods: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Block-diagonal R(t) exactly as written in POYO appendix A.1 (identity blocks after the
    rotated pairs)."""
    r = torch.eye(head_dim, dtype=F64)
    for i, period in enumerate(periods.tolist()):
        a = 2 * math.pi * t / period
        r[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor(
            [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=F64
        )
    return r


def cross(m, x_query, x_context, query_rot, context_rot, **masks):
    """A cross-attention module applied to a raw context (projected and rotated here)."""
    return m(x_query, query_rot, m.project_context(x_context, context_rot), **masks)
