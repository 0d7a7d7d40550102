"""LAMB (bench.training.optimizers): per-tensor trust ratio, untouched absent rows, and the loop's choice."""

import pytest
import torch

from bench.training.config import TrainConfig
from bench.training.optimizers import Lamb, make_optimizer


def test_each_tensor_moves_by_lr_times_its_norm():
    """The trust ratio makes the first step's size lr * ||w|| whatever the gradient's scale."""
    for scale in (1e-4, 1.0, 1e3):
        w = torch.nn.Parameter(torch.randn(5, 3) * 0.02)
        before = w.detach().clone()
        opt = Lamb([w], lr=0.01, weight_decay=0.0)
        w.grad = torch.randn(5, 3) * scale
        opt.step()
        assert float((w.detach() - before).norm()) == pytest.approx(0.01 * float(before.norm()), rel=1e-3)


def test_rows_without_gradient_keep_weights_and_moments():
    """Embedding rows of units absent from a batch are not moved by momentum or weight decay."""
    emb = torch.nn.Embedding(4, 3)
    opt = Lamb(emb.parameters(), lr=0.1, weight_decay=0.1)
    emb(torch.tensor([0, 1])).sum().backward()
    opt.step()
    opt.zero_grad()
    after_first = emb.weight.detach().clone()
    emb(torch.tensor([2])).sum().backward()
    opt.step()
    assert torch.equal(emb.weight.detach()[:2], after_first[:2])  # rows 0, 1 absent: unchanged
    assert not torch.equal(emb.weight.detach()[2], after_first[2])
    assert opt.state[emb.weight]["step"].tolist() == [1, 1, 1, 0]


def test_minimises_a_quadratic():
    target = torch.tensor([3.0, -2.0, 0.5])
    w = torch.nn.Parameter(torch.ones(3))
    opt = Lamb([w], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
    assert torch.allclose(w.detach(), target, atol=0.05)


def test_config_chooses_the_optimiser():
    params = [{"params": [torch.nn.Parameter(torch.zeros(2))]}]
    assert isinstance(make_optimizer(TrainConfig().optimizer, params, 1e-3, 0.0), torch.optim.AdamW)
    assert isinstance(make_optimizer(TrainConfig(optimizer="lamb").optimizer, params, 1e-3, 0.0), Lamb)
    with pytest.raises(ValueError):
        TrainConfig(optimizer="sgd")
