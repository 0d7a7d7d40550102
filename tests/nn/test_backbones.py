"""The inference steppers of the backbones (used by every streaming decoder) equal their forward pass."""

import pytest
import torch

from bench.nn.backbones import make_backbone


@pytest.mark.parametrize("kind,layers", [("gru", 1), ("gru", 2), ("s4d", 2), ("mamba", 1), ("mamba", 2)])
def test_stepper_equals_forward_and_step(kind, layers):
    torch.manual_seed(0)
    backbone = make_backbone(kind, in_dim=12, hidden=16, layers=layers, d_state=8, expand=2, dropout=0.0).eval()
    with torch.no_grad():
        for p in backbone.parameters():  # move away from the init so every parameter matters
            p.add_(0.05 * torch.randn_like(p))
        x = torch.randn(2, 30, 12)
        offline = backbone(x)
        stepper = backbone.stepper()
        state_fast, state_ref = stepper.init_state(2), backbone.init_state(2)
        fast, ref = [], []
        for t in range(x.shape[1]):
            y, state_fast = stepper.step(x[:, t], state_fast)
            fast.append(y)
            y, state_ref = backbone.step(x[:, t], state_ref)
            ref.append(y)
    fast, ref = torch.stack(fast, 1), torch.stack(ref, 1)
    assert offline.abs().max() > 0.1
    assert torch.allclose(fast, offline, atol=1e-5), (fast - offline).abs().max()
    assert torch.allclose(fast, ref, atol=1e-5), (fast - ref).abs().max()


def test_stepper_is_a_snapshot_of_the_weights():
    torch.manual_seed(0)
    backbone = make_backbone("mamba", in_dim=8, hidden=16, layers=1, d_state=8, expand=2, dropout=0.0).eval()
    x = torch.randn(1, 8)
    with torch.no_grad():
        stepper = backbone.stepper()
        before = stepper.step(x, stepper.init_state(1))[0]
        backbone.ssm.layers[0].mixer.out_proj.weight.mul_(2.0)
        assert torch.equal(stepper.step(x, stepper.init_state(1))[0], before)
        fresh = backbone.stepper()
        assert not torch.allclose(fresh.step(x, fresh.init_state(1))[0], before)
