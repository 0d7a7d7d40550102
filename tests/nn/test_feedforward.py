"""The GEGLU feed-forward shared by the attention blocks."""

import torch
import torch.nn.functional as F

from bench.nn.feedforward import FeedForward


def test_geglu_feedforward():
    torch.manual_seed(15)
    ff = FeedForward(8, mult=2)
    x = torch.randn(4, 8)
    h = ff.net[0](F.layer_norm(x, (8,), ff.norm.weight, ff.norm.bias))
    a, g = h[:, :16], h[:, 16:]
    assert torch.allclose(ff(x), ff.net[3](a * F.gelu(g)), atol=1e-6)


def test_state_dict_names_are_stable():
    """Saved POYO / POSSM weights are keyed by these names (the parameter-free GEGLU keeps index 1)."""
    assert list(FeedForward(8).state_dict()) == ["norm.weight", "norm.bias", "net.0.weight", "net.0.bias",
                                                 "net.3.weight", "net.3.bias"]
