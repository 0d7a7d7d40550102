import math
import sys

import pytest
import torch
import torch.nn.functional as F

from bench.nn.mamba import (
    Mamba,
    MambaBlock,
    MambaStack,
    mamba_ssm_available,
    selective_scan,
    selective_scan_reference,
)

METHODS = ["loop", "chunked"]


def _scan_inputs(batch, dim, N, L, dtype=torch.float32, seed=0, delta_scale=1.0, a_max=4.0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, dim, L, generator=g, dtype=dtype)
    delta = torch.randn(batch, dim, L, generator=g, dtype=dtype) * delta_scale
    A = -(torch.rand(dim, N, generator=g, dtype=dtype) * a_max + 0.1)
    B = torch.randn(batch, N, L, generator=g, dtype=dtype)
    C = torch.randn(batch, N, L, generator=g, dtype=dtype)
    D = torch.randn(dim, generator=g, dtype=dtype)
    z = torch.randn(batch, dim, L, generator=g, dtype=dtype)
    delta_bias = torch.randn(dim, generator=g, dtype=dtype) * 0.5
    return u, delta, A, B, C, D, z, delta_bias


def _rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def _step_through(module, x):
    state = module.init_state(x.shape[0])
    ys = []
    for t in range(x.shape[1]):
        y, state = module.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


# ------------------------------------------------------------------------------------ scan


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("L", [1, 2, 7, 16, 33, 64, 100, 130])
def test_fast_scan_matches_reference(method, L):
    u, delta, A, B, C, D, z, db = _scan_inputs(3, 12, 5, L, seed=L)
    y_ref, s_ref = selective_scan_reference(u, delta, A, B, C, D, z, db, True, True)
    y, s = selective_scan(u, delta, A, B, C, D, z, db, True, True, method=method)
    assert _rel_err(y, y_ref) < 1e-5
    assert _rel_err(s, s_ref) < 1e-5


@pytest.mark.parametrize("method", METHODS)
def test_fast_scan_without_optional_terms(method):
    u, delta, A, B, C, *_ = _scan_inputs(2, 6, 4, 19, seed=3)
    delta = delta.abs()
    y_ref = selective_scan_reference(u, delta, A, B, C)
    y = selective_scan(u, delta, A, B, C, method=method)
    assert _rel_err(y, y_ref) < 1e-5


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("delta_scale", [0.3, 6.0])
def test_fast_scan_strong_decay_is_stable(method, delta_scale):
    """Large dt * |A| (exp(-dt A) would overflow float32 over a few steps) stays exact."""
    u, delta, A, B, C, D, z, db = _scan_inputs(
        2, 8, 16, 90, seed=5, delta_scale=delta_scale, a_max=30.0
    )
    y_ref = selective_scan_reference(u, delta, A, B, C, D, z, db, True)
    y = selective_scan(u, delta, A, B, C, D, z, db, True, method=method)
    assert torch.isfinite(y).all()
    assert _rel_err(y, y_ref) < 1e-5


@pytest.mark.parametrize("method", METHODS)
def test_fast_scan_initial_state_continues_exactly(method):
    u, delta, A, B, C, D, z, db = _scan_inputs(2, 8, 4, 50, seed=7)

    def args(sl):
        return (u[..., sl], delta[..., sl], A, B[..., sl], C[..., sl], D, z[..., sl], db,
                True, True)

    y_full, s_full = selective_scan(*args(slice(None)), method=method)
    y1, s1 = selective_scan(*args(slice(0, 21)), method=method)
    y2, s2 = selective_scan(*args(slice(21, None)), initial_state=s1, method=method)
    assert _rel_err(torch.cat([y1, y2], -1), y_full) < 1e-5
    assert _rel_err(s2, s_full) < 1e-5


@pytest.mark.parametrize("method", METHODS)
def test_fast_scan_gradcheck_float64(method):
    u, delta, A, B, C, *_ = _scan_inputs(2, 3, 4, 9, dtype=torch.float64, seed=11)
    h0 = torch.randn(2, 3, 4, dtype=torch.float64)
    inputs = [t.clone().requires_grad_() for t in (u, delta, A, B, C, h0)]

    def f(u, delta, A, B, C, h0):
        return selective_scan(u, delta, A, B, C, None, None, None, True, True,
                              initial_state=h0, method=method)

    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("method", METHODS)
def test_fast_scan_gradients_match_reference_float32(method):
    base = _scan_inputs(2, 16, 8, 45, seed=13)
    grads = []
    for fn in (selective_scan_reference, lambda *a: selective_scan(*a, method=method)):
        inputs = [t.clone().requires_grad_() for t in base]
        u, delta, A, B, C, D, z, db = inputs
        y, s = fn(u, delta, A, B, C, D, z, db, True, True)
        (y.sin().sum() + s.pow(2).sum()).backward()
        grads.append([t.grad for t in inputs])
    for g_ref, g in zip(*grads):
        assert _rel_err(g, g_ref) < 1e-4


def test_reference_other_layouts_fall_back():
    u, delta, A, B, C, D, z, db = _scan_inputs(2, 8, 4, 10, seed=17)
    # time-invariant B and C (dim, N)
    Bc, Cc = torch.randn(8, 4), torch.randn(8, 4)
    y = selective_scan(u, delta, A, Bc, Cc, D, z, db, True)
    assert torch.allclose(y, selective_scan_reference(u, delta, A, Bc, Cc, D, z, db, True))
    # grouped (batch, groups, N, L): 2 groups of 4 channels
    Bg, Cg = torch.randn(2, 2, 4, 10), torch.randn(2, 2, 4, 10)
    y_g = selective_scan_reference(u, delta, A, Bg, Cg, D, z, db, True)
    for g in range(2):
        sl = slice(4 * g, 4 * g + 4)
        y_one = selective_scan_reference(u[:, sl], delta[:, sl], A[sl], Bg[:, g], Cg[:, g],
                                         D[sl], z[:, sl], db[sl], True)
        assert torch.allclose(y_g[:, sl], y_one, atol=1e-6)


def test_reference_matches_hand_recurrence():
    u, delta, A, B, C, D, z, db = _scan_inputs(1, 2, 3, 6, dtype=torch.float64, seed=19)
    y = selective_scan_reference(u, delta, A, B, C, D, z, db, True)
    dt = F.softplus(delta + db[:, None])
    h = torch.zeros(2, 3, dtype=torch.float64)
    for t in range(6):
        dt_t = dt[0, :, t, None]
        h = torch.exp(dt_t * A) * h + dt_t * B[0, None, :, t] * u[0, :, t, None]
        out = (h * C[0, None, :, t]).sum(-1) + D * u[0, :, t]
        out = out * F.silu(z[0, :, t])
        assert torch.allclose(y[0, :, t], out)


# ---------------------------------------------------------------------------------- module

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
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == EXPECTED_SHAPES_D64
    assert sum(p.numel() for p in m.parameters()) == sum(
        math.prod(s) for s in EXPECTED_SHAPES_D64.values()
    )
    # strict load of a state dict with exactly mamba-ssm's keys
    sd = {k: torch.randn(s) for k, s in EXPECTED_SHAPES_D64.items()}
    m.load_state_dict(sd, strict=True)
    # configurable sizes
    m2 = Mamba(32, d_state=8, expand=3, dt_rank=5, d_conv=3, bias=True)
    assert m2.in_proj.bias is not None and m2.out_proj.bias is not None
    assert m2.x_proj.weight.shape == (5 + 16, 96)
    assert m2.conv1d.weight.shape == (96, 1, 3)


def test_initialisation_matches_mamba_ssm_scheme():
    torch.manual_seed(0)
    dt_min, dt_max, floor = 0.001, 0.1, 1e-4
    m = Mamba(64, dt_min=dt_min, dt_max=dt_max, dt_init_floor=floor)
    assert torch.allclose(m.A_log, torch.log(torch.arange(1, 17.0)).repeat(128, 1))
    assert torch.equal(m.D, torch.ones(128))
    dt = F.softplus(m.dt_proj.bias)
    assert (dt >= dt_min * (1 - 1e-4)).all() and (dt <= dt_max * (1 + 1e-4)).all()
    assert m.dt_proj.weight.abs().max() <= m.dt_rank ** -0.5
    assert getattr(m.dt_proj.bias, "_no_reinit", False)
    assert m.A_log._no_weight_decay and m.D._no_weight_decay
    mc = Mamba(64, dt_init="constant")
    assert torch.allclose(mc.dt_proj.weight, torch.full((128, 4), 4 ** -0.5))


def _slow_path_reference(m: Mamba, x: torch.Tensor) -> torch.Tensor:
    """mamba-ssm's Mamba.forward slow path, written out with selective_scan_reference."""
    batch, L, _ = x.shape
    xz = (m.in_proj.weight @ x.reshape(-1, m.d_model).t()).reshape(-1, batch, L).transpose(0, 1)
    xi, z = xz.chunk(2, dim=1)
    xi = F.silu(m.conv1d(xi)[..., :L])
    x_dbl = m.x_proj(xi.transpose(1, 2).reshape(batch * L, -1))
    dt, B, C = torch.split(x_dbl, [m.dt_rank, m.d_state, m.d_state], dim=-1)
    dt = (m.dt_proj.weight @ dt.t()).reshape(-1, batch, L).transpose(0, 1)
    B = B.reshape(batch, L, -1).transpose(1, 2)
    C = C.reshape(batch, L, -1).transpose(1, 2)
    y = selective_scan_reference(xi, dt, -torch.exp(m.A_log.float()), B, C, m.D.float(), z,
                                 m.dt_proj.bias.float(), True)
    return m.out_proj(y.transpose(1, 2))


@pytest.mark.parametrize("method", METHODS)
def test_module_forward_matches_mamba_ssm_slow_path(method):
    torch.manual_seed(1)
    m = Mamba(64, scan_method=method)
    x = torch.randn(3, 37, 64)
    assert _rel_err(m(x), _slow_path_reference(m, x)) < 1e-5


@pytest.mark.parametrize("L", [1, 5, 40])
def test_module_forward_equals_stepping(L):
    torch.manual_seed(2)
    m = Mamba(32, d_state=8)
    x = torch.randn(4, L, 32)
    y = m(x)
    y_step, (conv_state, ssm_state) = _step_through(m, x)
    assert (y - y_step).abs().max() <= 1e-5 * max(1.0, y.abs().max().item())
    assert conv_state.shape == (4, 64, 4) and ssm_state.shape == (4, 64, 8)
    _, (conv_f, ssm_f) = m(x, return_state=True)
    assert torch.allclose(conv_f, conv_state, atol=1e-6)
    assert torch.allclose(ssm_f, ssm_state, atol=1e-5)


def test_module_windowed_forward_with_state():
    torch.manual_seed(3)
    m = Mamba(32)
    x = torch.randn(2, 30, 32)
    y = m(x)
    y1, s1 = m(x[:, :2], return_state=True)  # shorter than d_conv - 1
    y2, s2 = m(x[:, 2:13], state=s1, return_state=True)
    y3 = m(x[:, 13:], state=s2)
    assert torch.allclose(torch.cat([y1, y2, y3], 1), y, atol=1e-5)


def test_module_gradients_flow():
    torch.manual_seed(4)
    m = Mamba(32)
    x = torch.randn(2, 15, 32, requires_grad=True)
    m(x).pow(2).mean().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_module_gradients_match_slow_path():
    torch.manual_seed(5)
    m = Mamba(32, d_state=8)
    x = torch.randn(2, 23, 32)
    grads = []
    for fn in (m, lambda inp: _slow_path_reference(m, inp)):
        m.zero_grad()
        fn(x).sin().sum().backward()
        grads.append({k: p.grad.clone() for k, p in m.named_parameters()})
    for k in grads[0]:
        assert _rel_err(grads[0][k], grads[1][k]) < 1e-4, k


def test_module_float64():
    torch.manual_seed(6)
    m = Mamba(16, d_state=4).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    y = m(x)
    assert y.dtype == torch.float64
    y_step, _ = _step_through(m, x)
    assert torch.allclose(y, y_step, atol=1e-12)


@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_block_and_stack(norm):
    torch.manual_seed(7)
    block = MambaBlock(32, norm=norm, d_state=8)
    keys = set(block.state_dict())
    assert "norm.weight" in keys and "mixer.in_proj.weight" in keys and "mixer.A_log" in keys
    x = torch.randn(2, 12, 32)
    y_step, _ = _step_through(block, x)
    assert torch.allclose(block(x), y_step, atol=1e-5)
    stack = MambaStack(32, n_layers=2, norm=norm, d_state=8)
    y_step, states = _step_through(stack, x)
    assert torch.allclose(stack(x), y_step, atol=1e-5)
    assert len(states) == 2
    y, _ = stack(x, return_state=True)
    assert torch.allclose(y, y_step, atol=1e-5)


def test_stack_rescales_out_proj():
    torch.manual_seed(8)
    stack = MambaStack(64, n_layers=4)
    bound = 1 / math.sqrt(128) / math.sqrt(4)  # kaiming_uniform(a=sqrt(5)) bound / sqrt(n_layers)
    for layer in stack.layers:
        assert layer.mixer.out_proj.weight.abs().max() <= bound + 1e-7


def test_mamba_ssm_not_imported_on_cpu():
    available = mamba_ssm_available()
    assert isinstance(available, bool)
    if not torch.cuda.is_available():
        assert available is False
        already = "mamba_ssm" in sys.modules
        Mamba(16)(torch.randn(1, 3, 16))
        assert ("mamba_ssm" in sys.modules) == already


# -------------------------------------------------------------------------------- mamba-ssm


@pytest.mark.gpu
@pytest.mark.skipif(not mamba_ssm_available(), reason="needs CUDA and mamba-ssm")
def test_matches_mamba_ssm_on_gpu():
    from mamba_ssm.modules.mamba_simple import Mamba as MambaSSM
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn, selective_scan_ref

    torch.manual_seed(0)
    torch.backends.cudnn.allow_tf32 = False  # exact fp32 convolutions on both sides
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    theirs = MambaSSM(d_model=64).to(dev)
    ours = Mamba(64).to(dev)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(4, 50, 64, device=dev)
    y_theirs = theirs(x)
    assert _rel_err(ours(x), y_theirs) < 1e-3  # mamba-ssm's kernel (CUDA) path
    ours_cpu = Mamba(64)
    ours_cpu.load_state_dict({k: v.cpu() for k, v in theirs.state_dict().items()}, strict=True)
    assert _rel_err(ours_cpu(x.cpu()), y_theirs.cpu()) < 1e-3  # our CPU scan
    ours.use_cuda_kernel = False
    assert _rel_err(ours(x), y_theirs) < 1e-3  # our scan on CUDA

    # the scan functions themselves
    u, delta, A, B, C, D, z, db = (t.to(dev) for t in _scan_inputs(2, 16, 8, 77))
    y_k = selective_scan_fn(u, delta, A, B, C, D, z, db, True)
    assert _rel_err(selective_scan(u, delta, A, B, C, D, z, db, True), y_k) < 1e-4
    y_r = selective_scan_ref(u, delta, A, B, C, D, z, db, True)
    assert _rel_err(selective_scan_reference(u, delta, A, B, C, D, z, db, True), y_r) < 1e-5

    # streaming against mamba-ssm's own step
    conv_state, ssm_state = ours.init_state(4, device=dev)
    conv_t = torch.zeros_like(conv_state)
    ssm_t = torch.zeros_like(ssm_state)
    for t in range(5):
        y_o, (conv_state, ssm_state) = ours.step(x[:, t], (conv_state, ssm_state))
        y_t, conv_t, ssm_t = theirs.step(x[:, t : t + 1], conv_t, ssm_t)
        assert _rel_err(y_o, y_t[:, 0]) < 1e-3


def test_empty_sequence_keeps_state():
    m = Mamba(16)
    x = torch.randn(2, 5, 16)
    _, s = m(x, return_state=True)
    y0, s0 = m(x[:, :0], state=s, return_state=True)
    assert y0.shape == (2, 0, 16)
    assert all(torch.equal(a, b) for a, b in zip(s, s0))
