"""The Mamba modules: mamba-ssm's parameter layout and initialisation, and its forward maths."""

import math

import pytest
import torch
import torch.nn.functional as F

import bench.nn.mamba.block as block_module
from bench.nn.mamba import Mamba, MambaBlock, MambaStack, mamba_ssm_available
from tests.nn.mamba.reference import rel_err, selective_scan_reference

EXPECTED_SHAPES_D64 = {
    # mamba_ssm.modules.mamba_simple.Mamba(d_model=64) defaults: d_state 16, d_conv 4,
    # expand 2 (d_inner 128), dt_rank ceil(64 / 16) = 4, conv_bias True, bias False
    "A_log": (128, 16),
    "D": (128,),
    "in_proj.weight": (256, 64),
    "conv1d.weight": (128, 1, 4),
    "conv1d.bias": (128,),
    "x_proj.weight": (4 + 2 * 16, 128),
    "dt_proj.weight": (128, 4),
    "dt_proj.bias": (128,),
    "out_proj.weight": (64, 128),
}


def test_parameter_names_and_shapes_match_mamba_ssm():
    m = Mamba(64)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == EXPECTED_SHAPES_D64
    m.load_state_dict({k: torch.randn(s) for k, s in EXPECTED_SHAPES_D64.items()}, strict=True)
    m2 = Mamba(32, d_state=8, expand=3, dt_rank=5, d_conv=3)
    assert m2.x_proj.weight.shape == (5 + 16, 96)
    assert m2.conv1d.weight.shape == (96, 1, 3)


def test_initialisation_matches_mamba_ssm_scheme():
    torch.manual_seed(0)
    dt_min, dt_max = 0.001, 0.1
    m = Mamba(64, dt_min=dt_min, dt_max=dt_max)
    assert torch.allclose(m.A_log, torch.log(torch.arange(1, 17.0)).repeat(128, 1))
    assert torch.equal(m.D, torch.ones(128))
    dt = F.softplus(m.dt_proj.bias)
    assert (dt >= dt_min * (1 - 1e-4)).all() and (dt <= dt_max * (1 + 1e-4)).all()
    assert dt.max() / dt.min() > 10  # log-uniform over the range, not one value
    assert m.dt_proj.weight.abs().max() <= m.dt_rank ** -0.5


def _slow_path_reference(m: Mamba, x: torch.Tensor) -> torch.Tensor:
    """mamba-ssm's Mamba.forward slow path (Conv1d module, batch-first), with the reference scan."""
    L = x.shape[1]
    xi, z = m.in_proj(x).transpose(1, 2).chunk(2, dim=1)
    xi = F.silu(m.conv1d(xi)[..., :L])
    dt, B, C = torch.split(m.x_proj(xi.transpose(1, 2)), [m.dt_rank, m.d_state, m.d_state], dim=-1)
    dt = (dt @ m.dt_proj.weight.t()).transpose(1, 2)
    y = selective_scan_reference(xi, dt, -torch.exp(m.A_log.float()), B.transpose(1, 2), C.transpose(1, 2),
                                 m.D.float(), z, m.dt_proj.bias.float(), True)
    return m.out_proj(y.transpose(1, 2))


@pytest.mark.parametrize("L", [1, 3, 37])
def test_forward_matches_mamba_ssm_slow_path(L):
    torch.manual_seed(1)
    m = Mamba(64)
    x = torch.randn(3, L, 64)
    assert rel_err(m(x), _slow_path_reference(m, x)) < 1e-5


def test_forward_float64():
    torch.manual_seed(6)
    m = Mamba(16, d_state=4).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    y = m(x)
    assert y.dtype == torch.float64
    assert torch.allclose(y, _slow_path_reference(m, x), atol=1e-12)


def test_gradients_reach_every_parameter_and_match_slow_path():
    torch.manual_seed(5)
    m = Mamba(32, d_state=8)
    x = torch.randn(2, 23, 32)
    grads = []
    for fn in (m, lambda inp: _slow_path_reference(m, inp)):
        m.zero_grad()
        fn(x).sin().sum().backward()
        grads.append({k: p.grad.clone() for k, p in m.named_parameters()})
    for k, g in grads[0].items():
        assert torch.isfinite(g).all() and g.abs().sum() > 0, k
        assert rel_err(g, grads[1][k]) < 1e-4, k


def test_kernel_path_wiring_equals_pure_path(monkeypatch):
    """The mamba-ssm kernel path (batch-first layout, delta_bias and softplus handed to the
    kernel) gives the pure path's output; the kernel is stood in for by the reference loop, so
    this runs on CPU."""
    torch.manual_seed(9)
    m = Mamba(32, d_state=8)
    x = torch.randn(2, 11, 32)
    monkeypatch.setattr(block_module, "mamba_ssm_scan_fn", lambda: selective_scan_reference)
    assert rel_err(m._forward_cuda(x), m(x)) < 1e-5


def test_block_and_stack_keep_mamba_ssm_names_and_rescale_out_proj():
    torch.manual_seed(7)
    keys = set(MambaBlock(32, d_state=8).state_dict())
    assert {"norm.weight", "norm.bias", "mixer.in_proj.weight", "mixer.A_log"} <= keys
    stack = MambaStack(64, n_layers=4)
    assert "norm_f.weight" in stack.state_dict() and "layers.3.mixer.D" in stack.state_dict()
    bound = 1 / math.sqrt(128) / math.sqrt(4)  # kaiming_uniform(a=sqrt(5)) bound / sqrt(n_layers)
    for layer in stack.layers:
        w = layer.mixer.out_proj.weight
        assert w.abs().max() <= bound + 1e-7 and w.abs().max() > 0.5 * bound


def test_stack_is_residual_blocks_then_final_norm():
    torch.manual_seed(8)
    stack = MambaStack(16, n_layers=2, d_state=4).eval()
    x = torch.randn(2, 7, 16)
    h = x
    for layer in stack.layers:
        h = h + layer.mixer(layer.norm(h))
    assert torch.allclose(stack(x), stack.norm_f(h), atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not mamba_ssm_available(), reason="needs CUDA and mamba-ssm")
def test_matches_mamba_ssm_on_gpu():
    from mamba_ssm.modules.mamba_simple import Mamba as MambaSSM

    torch.manual_seed(0)
    torch.backends.cudnn.allow_tf32 = False  # exact fp32 convolutions on both sides
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    theirs = MambaSSM(d_model=64).to(dev)
    ours = Mamba(64).to(dev)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(4, 50, 64, device=dev)
    y_theirs = theirs(x)
    assert rel_err(ours(x), y_theirs) < 1e-3  # mamba-ssm's kernel path
    ours.use_cuda_kernel = False
    assert rel_err(ours(x), y_theirs) < 1e-3  # our scan on CUDA
    ours_cpu = Mamba(64)
    ours_cpu.load_state_dict({k: v.cpu() for k, v in theirs.state_dict().items()}, strict=True)
    assert rel_err(ours_cpu(x.cpu()), y_theirs.cpu()) < 1e-3  # our scan on CPU
