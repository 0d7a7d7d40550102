import pytest
import torch
from torch import nn

from bench.nn.feedforward import FeedForward
from bench.nn.frozen import FrozenFeedForward, FrozenLayerNorm, FrozenLinear


@pytest.mark.parametrize("dim,mult", [(64, 4), (24, 2)])
def test_frozen_feedforward_equals_module(dim, mult):
    torch.manual_seed(0)
    ff = FeedForward(dim, mult=mult).eval().double()  # float64: compare the maths, not rounding
    with torch.no_grad():  # non-trivial norm weights and biases
        for p in ff.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = 4 * torch.randn(5, dim, dtype=torch.float64)  # wide range: both GELU tails are exercised
    frozen = FrozenFeedForward(ff)
    with torch.no_grad():
        expected = ff(x)
    torch.testing.assert_close(frozen(x), expected, atol=1e-10, rtol=1e-10)
    assert frozen.hidden_units(x).shape == (5, dim * mult)


def test_frozen_feedforward_is_a_snapshot():
    ff = FeedForward(16).eval()
    frozen = FrozenFeedForward(ff)
    x = torch.randn(2, 16)
    before = frozen(x)
    with torch.no_grad():
        ff.net[0].weight.mul_(2.0)
    torch.testing.assert_close(frozen(x), before)


def test_frozen_linear_and_norms_equal_modules():
    torch.manual_seed(1)
    x = torch.randn(3, 12)
    lin, lin_nb = nn.Linear(12, 7), nn.Linear(12, 7, bias=False)
    ln = nn.LayerNorm(12)
    with torch.no_grad():
        for p in ln.parameters():
            p.add_(0.5 * torch.randn_like(p))
        torch.testing.assert_close(FrozenLinear(lin)(x), lin(x))
        torch.testing.assert_close(FrozenLinear(lin_nb)(x), lin_nb(x))
        torch.testing.assert_close(FrozenLinear(lin).add(x[:, :7], x), x[:, :7] + x @ lin.weight.t())  # bias left to base
        torch.testing.assert_close(FrozenLayerNorm(ln)(x), ln(x))
