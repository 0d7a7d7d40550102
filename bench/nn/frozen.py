"""Inference-only forms of trained layers for batch-1 streaming steps.

A streaming step multiplies one row by each weight matrix. ``F.linear`` does that against the
transposed view of the ``(out, in)`` weight, which at batch 1 on CPU runs about 2x slower than a
matmul against a row-major ``(in, out)`` copy (measured on this project's 2-core Xeon: 64 -> 512
5.2 vs 2.9 us, 256 -> 768 12.7 vs 8.1 us), and every nested ``nn.Module`` call adds a few
microseconds of Python. These wrappers copy the weights once, when a stream is reset, and apply
them with single ops. They are snapshots: rebuild them after the weights change.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["FrozenLinear", "FrozenLayerNorm", "FrozenFeedForward"]


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
        self.weight = norm.weight.detach().clone()
        self.bias = norm.bias.detach().clone()

    def __call__(self, x: Tensor) -> Tensor:
        return torch.layer_norm(x, self.shape, self.weight, self.bias, self.eps)  # skips F's Python checks


class FrozenFeedForward:
    """Inference form of :class:`bench.nn.feedforward.FeedForward` (pre-norm GEGLU, no dropout).

    ``a * gelu(g)`` is computed as ``a' * m * erfc(m)`` with ``a' = -a / sqrt(2)`` and
    ``m = -g / sqrt(2)`` (identical, since ``gelu(g) = g (1 + erf(g / sqrt 2)) / 2`` and
    ``1 + erf(x) = erfc(-x)``), the two scalings folded into the expansion weights. At batch 1
    ``F.gelu`` costs ~7 us per call on this project's CPU and ``erfc`` ~1 us, and the folded form
    needs no op with a Python scalar (each of which costs ~2 us).
    """

    def __init__(self, ff: nn.Module):
        self.norm = FrozenLayerNorm(ff.norm)
        expand = ff.net[0]
        self.hidden = expand.out_features // 2
        with torch.no_grad():
            scale = -1.0 / math.sqrt(2.0)
            self.expand_t = (expand.weight.detach().t() * scale).contiguous()  # (dim, 2 * hidden)
            self.expand_bias = expand.bias.detach() * scale
        self.project = FrozenLinear(ff.net[3])

    def hidden_units(self, x: Tensor) -> Tensor:
        """The gated hidden activations ``a * gelu(g)``, before the output projection."""
        h = torch.addmm(self.expand_bias, self.norm(x), self.expand_t)
        a, m = h.split_with_sizes([self.hidden, self.hidden], dim=-1)
        return torch.mul(a, m).mul_(torch.erfc(m))

    def __call__(self, x: Tensor) -> Tensor:
        return self.project(self.hidden_units(x))
