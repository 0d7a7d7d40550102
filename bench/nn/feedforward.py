"""GEGLU feed-forward network (Shazeer 2020, "GLU variants improve transformer").

Used after every attention layer in POYO and POSSM: ``x + FF(LayerNorm(x))``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GEGLU", "FeedForward"]


class GEGLU(nn.Module):
    """Split the last dim in two halves ``(a, g)`` and return ``a * gelu(g)`` (exact GELU).

    The first half carries the value and the second half the gate; this is the layout
    used by the public POYO/POSSM code, so weights are interchangeable.
    """

    def forward(self, x: Tensor) -> Tensor:
        a, g = x.chunk(2, dim=-1)
        return a * F.gelu(g)


class FeedForward(nn.Module):
    """``LayerNorm -> Linear(dim, 2*mult*dim) -> GEGLU -> Dropout -> Linear(mult*dim, dim)``.

    Args:
        dim: input and output width.
        mult: hidden width multiplier (4 in POYO/POSSM).
        dropout: dropout after the gated activation (POYO's public configs use 0.2 for
            training; 0 by default so that inference and tests are deterministic).

    The pre-norm is part of the module; the residual is left to the caller (see
    :class:`bench.nn.rotary.RotaryCrossAttentionBlock`).
    """

    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * mult)
        self.norm = nn.LayerNorm(dim)
        self.net = nn.Sequential(
            nn.Linear(dim, 2 * hidden),
            GEGLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        # Written out with functional calls on the submodules' parameters (same state_dict as
        # ``self.net(self.norm(x))``): at batch 1 in a streaming step, the seven nested module
        # calls cost about as much as the arithmetic.
        norm = self.norm
        x = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        expand, drop, project = self.net[0], self.net[2], self.net[3]
        a, g = F.linear(x, expand.weight, expand.bias).chunk(2, dim=-1)
        h = a * F.gelu(g)
        if self.training and drop.p > 0:
            h = F.dropout(h, drop.p, training=True)
        return F.linear(h, project.weight, project.bias)
