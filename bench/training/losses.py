"""Losses by task kind (MSE, cross-entropy, CTC), all masked by per-query weights so padding and
outliers count for nothing."""

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


def ctc(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """CTC of per-query logits (B, Q, C) against label sequences (B, L) zero-padded.

    A sample's frames are its queries with weight > 0 (padding has weight 0, and queries come
    first); its labels are the entries that are not ``blank`` (labels never contain the blank, so
    the collate's zero padding is the blank padding). Mean over samples of the loss per label, as
    in the original speech-BCI training; impossible alignments count zero instead of inf.
    """
    frames = (weight > 0).sum(dim=1)
    lengths = (target != blank).sum(dim=1)
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
    return F.ctc_loss(log_probs, target.long(), frames, lengths, blank=blank, reduction="mean", zero_infinity=True)


def task_loss(
    kind: TaskKind, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, blank: int | None = None
) -> torch.Tensor:
    if kind == TaskKind.regression:
        return weighted_mse(pred, target, weight)
    if kind == TaskKind.classification:
        return weighted_cross_entropy(pred, target, weight)
    return ctc(pred, target, weight, 0 if blank is None else blank)


def loss_normaliser(kind: TaskKind, weight: torch.Tensor) -> torch.Tensor:
    """What ``task_loss`` divides a batch's summed loss by: the sum of the query weights (MSE,
    cross-entropy), or the number of samples (CTC's mean over samples). Data-parallel training
    weights each process's loss by its share of it (``bench.training.distributed``)."""
    if kind == TaskKind.sequence:
        return torch.tensor(float(weight.shape[0]))
    return weight.sum().detach().float()
