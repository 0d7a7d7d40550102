"""Inference-only forms of trained layers for batch-1 streaming steps.

A streaming step multiplies one row by each weight matrix. ``F.linear`` does that against the
transposed view of the ``(out, in)`` weight, which at batch 1 on CPU runs about 2x slower than a
matmul against a row-major ``(in, out)`` copy (measured on this project's 2-core Xeon: 64 -> 512
5.2 vs 2.9 us, 256 -> 768 12.7 vs 8.1 us), and every nested ``nn.Module`` call adds a few
microseconds of Python. These wrappers copy the weights once, when a stream is reset, and apply
them with single ops. They are snapshots: rebuild them after the weights change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FrozenLinear", "FrozenLayerNorm", "FrozenFeedForward", "frozen_norm"]


class FrozenLinear:
    """``x @ W.T + b`` for 2-D ``x``, with ``W.T`` stored contiguous."""

    def __init__(self, linear: nn.Linear):
        with torch.no_grad():
            self.weight_t = linear.weight.detach().t().contiguous()
            self.bias = None if linear.bias is None else linear.bias.detach().clone()

    def __call__(self, x: Tensor) -> Tensor:
        if self.bias is None:
            return torch.mm(x, self.weight_t)
        return torch.addmm(self.bias, x, self.weight_t)

    def add(self, base: Tensor, x: Tensor) -> Tensor:
        """``base + x @ W.T + b`` in one op (``base`` already holding the bias if any is wanted)."""
        return torch.addmm(base, x, self.weight_t)


class FrozenLayerNorm:
    def __init__(self, norm: nn.LayerNorm):
        self.shape = norm.normalized_shape
        self.eps = norm.eps
        self.weight = None if norm.weight is None else norm.weight.detach().clone()
        self.bias = None if norm.bias is None else norm.bias.detach().clone()

    def __call__(self, x: Tensor) -> Tensor:
        return torch.layer_norm(x, self.shape, self.weight, self.bias, self.eps)  # skips F's Python checks


class FrozenRMSNorm:
    def __init__(self, norm: nn.RMSNorm):
        self.shape = norm.normalized_shape
        self.eps = norm.eps
        self.weight = None if norm.weight is None else norm.weight.detach().clone()

    def __call__(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.shape, self.weight, self.eps)


def frozen_norm(norm: nn.Module):
    """Frozen LayerNorm / RMSNorm; ``None`` for an identity."""
    if isinstance(norm, nn.LayerNorm):
        return FrozenLayerNorm(norm)
    if isinstance(norm, nn.RMSNorm):
        return FrozenRMSNorm(norm)
    if isinstance(norm, nn.Identity):
        return None
    raise TypeError(f"no frozen form for {type(norm).__name__}")


class FrozenFeedForward:
    """Inference form of :class:`bench.nn.feedforward.FeedForward` (pre-norm GEGLU, no dropout)."""

    def __init__(self, ff: nn.Module):
        self.norm = frozen_norm(ff.norm)
        self.expand = FrozenLinear(ff.net[0])
        self.project = FrozenLinear(ff.net[3])

    def __call__(self, x: Tensor) -> Tensor:
        h = self.expand(self.norm(x) if self.norm is not None else x)
        a, g = h.chunk(2, dim=-1)
        return self.project(a * F.gelu(g))
