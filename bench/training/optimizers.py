"""The optimisers a suite can choose (``train.optimizer``): AdamW, and LAMB for the recipes that use it.

POYO and POSSM are published with LAMB (You et al. 2020, "Large batch optimization for deep
learning"): Adam's update, plus decoupled weight decay, rescaled per parameter tensor by a trust
ratio ``||w|| / ||update||``, so every tensor moves by about ``lr`` times its own norm per step,
whatever its gradient scale. That matters for small-initialised tables such as POSSM's unit
embeddings (N(0, 0.02)), which under AdamW move by ``lr`` per entry per step regardless of their
size. torch has no LAMB; this one follows the paper's algorithm (with Adam's bias correction).
Tensors whose rows receive no gradient in a step (embedding rows of units absent from the batch)
are left untouched in those rows, as a sparse LAMB does: their moments and weights stay as they were.
"""

from __future__ import annotations

from typing import Iterable

import torch


class Lamb(torch.optim.Optimizer):
    """LAMB: layer-wise adaptive moments (per-tensor trust ratio on the AdamW update)."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0, max_trust: float = 10.0):
        if lr <= 0 or eps <= 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid LAMB settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, max_trust=max_trust))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 (torch's Optimizer.step contract)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros(p.shape[:1] if p.dim() == 2 else (), dtype=torch.float64, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                rows = ...  # every entry; 2-D tables: only the rows that received a gradient
                if p.dim() == 2:  # absent embedding rows keep their weights and moments
                    touched = grad.abs().sum(dim=1) > 0
                    if not bool(touched.all()):
                        rows = touched
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                t[rows] += 1
                m[rows] = m[rows] * b1 + grad[rows] * (1 - b1)
                v[rows] = v[rows] * b2 + grad[rows] ** 2 * (1 - b2)
                steps = t[rows].unsqueeze(-1) if p.dim() == 2 else t
                update = (m[rows] / (1 - b1 ** steps).to(p.dtype)) / (
                    (v[rows] / (1 - b2 ** steps).to(p.dtype)).sqrt() + group["eps"])
                update = update + group["weight_decay"] * p[rows]
                p[rows] -= group["lr"] * _trust(p[rows], update, group["max_trust"]) * update
        return loss


def _trust(weights: torch.Tensor, update: torch.Tensor, max_trust: float) -> float:
    """``||w|| / ||update||`` (1 when either is zero: a freshly zeroed bias moves at the plain rate)."""
    w, u = float(weights.norm()), float(update.norm())
    return min(w / u, max_trust) if w > 0 and u > 0 else 1.0


def make_optimizer(name: str, groups: list[dict], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimiser ``name`` ('adamw' or 'lamb') over parameter ``groups``."""
    if name == "lamb":
        return Lamb(groups, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
