"""The backbones: streaming steppers (used by every streaming decoder) equal the forward pass, and
the state-dict names that saved weights and committed records depend on stay as they are."""

import pytest
import torch

from bench.nn.backbones import make_backbone


@pytest.mark.parametrize("kind,layers", [("gru", 1), ("gru", 2), ("s4d", 2), ("mamba", 1), ("mamba", 2)])
def test_stepper_equals_forward(kind, layers):
    torch.manual_seed(0)
    backbone = make_backbone(kind, in_dim=12, hidden=16, layers=layers, d_state=8, expand=2, dropout=0.0).eval()
    with torch.no_grad():
        for p in backbone.parameters():  # move away from the init so every parameter matters
            p.add_(0.05 * torch.randn_like(p))
        x = torch.randn(2, 30, 12)
        offline = backbone(x)
        stepper = backbone.stepper()
        state = stepper.init_state(2)
        streamed = []
        for t in range(x.shape[1]):
            y, state = stepper.step(x[:, t], state)
            streamed.append(y)
    streamed = torch.stack(streamed, 1)
    assert offline.shape == (2, 30, backbone.out_dim) and offline.abs().max() > 0.1
    assert torch.allclose(streamed, offline, atol=1e-5), (streamed - offline).abs().max()


EXPECTED_KEYS = {
    "gru": ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"],
    "s4d": ["proj.weight", "proj.bias", "ssm.layers.0.norm.weight", "ssm.layers.0.norm.bias", "ssm.layers.0.layer.D",
            "ssm.layers.0.layer.kernel.C", "ssm.layers.0.layer.kernel.log_dt", "ssm.layers.0.layer.kernel.log_A_real",
            "ssm.layers.0.layer.kernel.A_imag", "ssm.layers.0.layer.output_linear.weight",
            "ssm.layers.0.layer.output_linear.bias", "ssm.norm_f.weight", "ssm.norm_f.bias"],
    "mamba": ["proj.weight", "proj.bias", "ssm.layers.0.norm.weight", "ssm.layers.0.norm.bias",
              "ssm.layers.0.mixer.A_log", "ssm.layers.0.mixer.D", "ssm.layers.0.mixer.in_proj.weight",
              "ssm.layers.0.mixer.conv1d.weight", "ssm.layers.0.mixer.conv1d.bias", "ssm.layers.0.mixer.x_proj.weight",
              "ssm.layers.0.mixer.dt_proj.weight", "ssm.layers.0.mixer.dt_proj.bias",
              "ssm.layers.0.mixer.out_proj.weight", "ssm.norm_f.weight", "ssm.norm_f.bias"],
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_KEYS))
def test_state_dict_names_are_stable(kind):
    backbone = make_backbone(kind, in_dim=12, hidden=16, layers=1, d_state=8, expand=2, dropout=0.0)
    assert list(backbone.state_dict()) == EXPECTED_KEYS[kind]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="lstm"):
        make_backbone("lstm", in_dim=4, hidden=8, layers=1, d_state=8, expand=2, dropout=0.0)


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
