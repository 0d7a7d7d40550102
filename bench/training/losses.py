"""Losses by task kind, all masked by per-query weights so padding and outliers count for nothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.tasks.base import TaskKind


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """pred/target (B, Q, D), weight (B, Q): sum_w * squared error / sum_w, averaged over D."""
    err = ((pred - target) ** 2).mean(dim=-1)
    return (err * weight).sum() / weight.sum().clamp_min(1e-8)


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """logits (B, Q, C), target (B, Q) int, weight (B, Q)."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1).long(), reduction="none")
    w = weight.reshape(-1)
    return (ce * w).sum() / w.sum().clamp_min(1e-8)


def task_loss(kind: TaskKind, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if kind == TaskKind.regression:
        return weighted_mse(pred, target, weight)
    if kind == TaskKind.classification:
        return weighted_cross_entropy(pred, target, weight)
    raise NotImplementedError(f"loss for task kind {kind.value} is provided by sequence models (CTC)")
