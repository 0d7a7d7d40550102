"""Mamba-1 selective state-space block in pure PyTorch, state-dict compatible with mamba-ssm.

The block follows ``mamba_ssm.modules.mamba_simple.Mamba`` (Gu & Dao, 2023): the same
parameter names, shapes and initialisation, so a state dict trained with mamba-ssm on a GPU
loads here with ``load_state_dict(strict=True)`` and gives the same outputs.

    x, z   = in_proj(h).chunk(2)                       (batch, length, d_inner) each
    x      = SiLU(depthwise causal conv1d(x))
    dt,B,C = split(x_proj(x), [dt_rank, d_state, d_state])
    dt     = softplus(dt_proj.weight @ dt + dt_proj.bias)
    y      = selective_scan(x, dt, A=-exp(A_log), B, C) + D * x
    out    = out_proj(y * SiLU(z))

Selective scan (zero-order hold on A, Euler on B, as mamba-ssm does), per channel d and state n:

    h_t = exp(dt_t A) * h_{t-1} + dt_t B_t u_t,        y_t = <C_t, h_t> + D u_t

On CPU (and on CUDA without mamba-ssm) the scan runs through a hand-written autograd function
(:class:`_SelectiveScanFn`) in time-major layout, so every time step is one contiguous
(batch, d_inner, d_state) slab.  Two recurrences are implemented:

* ``"loop"`` (the default): per time step a handful of fused in-place ops on the slab while it
  is in cache (decay, input, multiply-add, read-out); the backward pass is the same loop run in
  reverse, recomputing the decays and accumulating every gradient per step, so only the states
  are stored and no autograd graph is built per step.
* ``"chunked"``: the sequence is cut into blocks; within a block the state is a cumulative sum
  in log-decay space (``h_t = e^{R_t} (h_in + cumsum_s e^{-R_s} X_s)``, ``R`` the cumulative
  log-decay) and only block-boundary states are carried sequentially.  The block length is
  chosen per call so that exponents stay far from float32 overflow (exact to rounding for any
  ``dt`` and ``A``).  It makes more passes over memory and measured slower on CPU at every size
  tried, so ``"auto"`` uses the loop (see :data:`AUTO_CHUNKED_MIN_LENGTH`).

On a CUDA input with mamba-ssm importable, the module uses mamba-ssm's ``selective_scan_fn``
kernel; that import happens only there, never on CPU-only machines.

Streaming: ``init_state`` gives ``(conv_state (batch, d_inner, d_conv), ssm_state (batch,
d_inner, d_state))`` as mamba-ssm's ``allocate_inference_cache``; ``step`` advances one token at
a cost independent of how many tokens came before.  ``forward`` also accepts a state and can
return the final one, so a long stream can be processed in windows exactly.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.nn.frozen import FrozenLinear, frozen_norm

__all__ = [
    "Mamba",
    "MambaBlock",
    "MambaStack",
    "MambaState",
    "mamba_ssm_available",
    "selective_scan",
    "selective_scan_reference",
    "AUTO_CHUNKED_MIN_LENGTH",
]

MambaState = tuple[Tensor, Tensor]

# "auto" picks "chunked" from this length on; None = never.  Measured on a 2-core CPU (batch
# 1..128, L 20..4000, d_inner 128, d_state 16) the per-step loop was faster everywhere
# (2-5x at batch >= 4, ~1.2x at batch 1, L 4000): the chunked form needs more full passes over
# the (L, batch, d_inner, d_state) tensors, and the loop's per-step slabs stay in cache.
AUTO_CHUNKED_MIN_LENGTH: Optional[int] = None
# Largest |log-decay| accumulated inside one block of the chunked scan.  exp(60) ~ 1e26 leaves
# twelve orders of magnitude of float32 headroom for the products with the inputs.
_MAX_BLOCK_EXPONENT = 60.0
_MAX_BLOCK_LENGTH = 64


# --------------------------------------------------------------------------------------------
# mamba-ssm (optional, CUDA only)
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _mamba_ssm_importable() -> bool:
    try:
        import mamba_ssm  # noqa: F401
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401
    except Exception:  # ImportError, or its compiled extension failing to load
        return False
    return True


def mamba_ssm_available() -> bool:
    """True only when CUDA is available and mamba-ssm (with its compiled kernel) imports."""
    if not torch.cuda.is_available():
        return False
    return _mamba_ssm_importable()


def _mamba_ssm_scan_fn():
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    return selective_scan_fn


# --------------------------------------------------------------------------------------------
# Reference scan (sequential; semantics of mamba-ssm's selective_scan_ref)
# --------------------------------------------------------------------------------------------


def selective_scan_reference(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    z: Optional[Tensor] = None,
    delta_bias: Optional[Tensor] = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
):
    """Plain sequential selective scan with the semantics of mamba-ssm's ``selective_scan_ref``.

    Shapes: u, delta, z (batch, dim, L); A (dim, N); B, C either (dim, N) (time-invariant),
    (batch, N, L) or (batch, groups, N, L) (time-varying; groups split dim evenly);
    D, delta_bias (dim,).  Computed in float32 (or wider), returned in u's dtype; with
    ``return_last_state`` also returns the final state (batch, dim, N).
    """
    dtype_in = u.dtype
    work = torch.promote_types(u.dtype, torch.float32)
    u = u.to(work)
    delta = delta.to(work)
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].to(work)
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    dstate = A.shape[1]
    A = A.to(work) if not A.is_complex() else A
    B = B.to(work) if not B.is_complex() else B
    C = C.to(work) if not C.is_complex() else C

    def expand_groups(M: Tensor) -> Tensor:  # (batch, G, N, L) -> (batch, dim, N, L)
        return M.repeat_interleave(dim // M.shape[1], dim=1)

    variable_B = B.dim() >= 3
    variable_C = C.dim() >= 3
    if variable_B and B.dim() == 4:
        B = expand_groups(B)
    if variable_C and C.dim() == 4:
        C = expand_groups(C)

    x = torch.zeros(batch, dim, dstate, dtype=torch.promote_types(A.dtype, work), device=u.device)
    ys = []
    for i in range(length):
        d_i = delta[:, :, i, None]  # (batch, dim, 1)
        dA = torch.exp(d_i * A)
        if not variable_B:
            b_i = B
        elif B.dim() == 3:
            b_i = B[:, None, :, i]
        else:
            b_i = B[:, :, :, i]
        x = dA * x + d_i * b_i * u[:, :, i, None]
        if not variable_C:
            c_i = C
        elif C.dim() == 3:
            c_i = C[:, None, :, i]
        else:
            c_i = C[:, :, :, i]
        y = (x * c_i).sum(-1)
        if y.is_complex():
            y = y.real * 2
        ys.append(y)
    y = torch.stack(ys, dim=2)
    out = y if D is None else y + u * D.to(work)[:, None]
    if z is not None:
        out = out * F.silu(z.to(work))
    out = out.to(dtype_in)
    if return_last_state:
        return out, x
    return out


# --------------------------------------------------------------------------------------------
# Fast scan: time-major kernels with a hand-written backward
# --------------------------------------------------------------------------------------------
#
# Notation (time-major, contiguous): u, delta (L, b, D); A (D, N); B, C (L, b, N);
# h0 (b, D, N) or None.  decay_t = exp(delta_t A), X_t = delta_t u_t B_t (outer product),
# h_t = decay_t h_{t-1} + X_t, y_t = <h_t, C_t>_N.  Backward, with G_t = dLoss/dh_t:
#     G_t = gy_t C_t + decay_{t+1} G_{t+1}              (reverse recurrence)
#     Q_t = G_t decay_t h_{t-1}                         (= dLoss/d(delta_t A))
#     gdelta = sum_N Q A + u sum_N G B,   gu = delta sum_N G B,   gA = sum_{t,b} Q delta
#     gB = sum_D G delta u,   gC = sum_D gy h,   gh0 = G_0 decay_0.


def _scan_forward_loop(u, delta, A, B, C, h0):
    """Per-step fused forward: each step works on one (batch, D, N) slab while it is in cache.

    Returns y (L, batch, D) and all states H (L, batch, D, N) (kept for the backward pass;
    the decays are recomputed there instead of stored).
    """
    L, batch, dim = u.shape
    N = A.shape[1]
    du = delta * u
    H = u.new_empty(L, batch, dim, N)
    y = u.new_empty(L, batch, dim)
    decay = u.new_empty(batch, dim, N)
    dl, dub, Bb, Cr = delta.unsqueeze(-1), du.unsqueeze(-1), B.unsqueeze(2), C.unsqueeze(2)
    prev = h0
    for t in range(L):
        torch.mul(dl[t], A, out=decay)
        decay.exp_()
        h_t = H[t]
        torch.mul(dub[t], Bb[t], out=h_t)
        if prev is not None:
            h_t.addcmul_(decay, prev)
        # y_t = <h_t, C_t>_N as (1, N) @ (N, D): faster than (D, N) @ (N, 1) on CPU
        torch.bmm(Cr[t], h_t.transpose(1, 2), out=y[t].unsqueeze(1))
        prev = h_t
    return y, H


def _scan_backward_loop(gy, glast, u, delta, A, B, C, h0, H):
    """Reverse per-step pass: G_t lives in two ping-pong slabs, decays are recomputed."""
    L, batch, dim = u.shape
    N = A.shape[1]
    du = delta * u
    g_du = u.new_empty(L, batch, dim)
    gd = u.new_empty(L, batch, dim)  # sum_N Q A
    gB = u.new_empty(L, batch, N)
    gC = u.new_empty(L, batch, N)
    accA = u.new_zeros(batch, dim, N)  # sum_t Q_t delta_t (summed over batch at the end)
    Q = u.new_empty(batch, dim, N)
    P = u.new_empty(batch, dim, N)
    Gs = (u.new_empty(batch, dim, N), u.new_empty(batch, dim, N))
    decays = (u.new_empty(batch, dim, N), u.new_empty(batch, dim, N))
    ones = u.new_ones(N)
    gyb, Cb, dl = gy.unsqueeze(-1), C.unsqueeze(2), delta.unsqueeze(-1)
    Br, dur, gyr = B.unsqueeze(2), du.unsqueeze(2), gy.unsqueeze(2)
    gh0 = None
    for t in range(L - 1, -1, -1):
        g_t = Gs[t % 2]
        torch.mul(gyb[t], Cb[t], out=g_t)
        if t == L - 1:
            if glast is not None:
                g_t.add_(glast)
        else:
            g_t.addcmul_(decays[(t + 1) % 2], Gs[(t + 1) % 2])
        torch.bmm(Br[t], g_t.transpose(1, 2), out=g_du[t].unsqueeze(1))
        torch.bmm(dur[t], g_t, out=gB[t].unsqueeze(1))
        torch.bmm(gyr[t], H[t], out=gC[t].unsqueeze(1))
        decay = decays[t % 2]
        torch.mul(dl[t], A, out=decay)
        decay.exp_()
        prev = H[t - 1] if t > 0 else h0
        if prev is None:
            gd[t].zero_()
            continue
        torch.mul(g_t, decay, out=Q)
        if t == 0:
            gh0 = Q.clone()
        Q.mul_(prev)
        torch.mul(Q, A, out=P)
        torch.mv(P.view(-1, N), ones, out=gd[t].view(-1))
        accA.addcmul_(Q, dl[t])
    gdelta = gd.add_(g_du * u)
    gu = g_du.mul_(delta)
    return gu, gdelta, accA.sum(0), gB, gC, gh0


def _block_length(rate: list, length: int) -> int:
    """Largest power-of-two block length (<= _MAX_BLOCK_LENGTH) whose accumulated log-decay
    bound inside any block stays under _MAX_BLOCK_EXPONENT.  ``rate[t]`` bounds |delta_t A|."""
    prefix = [0.0]
    for r in rate:
        prefix.append(prefix[-1] + r)
    T = 1
    while T * 2 <= min(_MAX_BLOCK_LENGTH, length):
        T2 = T * 2
        # The first step of a block multiplies the incoming state and is never inverted.
        worst = max(prefix[min(s + T2, length)] - prefix[s + 1] for s in range(0, length, T2))
        if worst > _MAX_BLOCK_EXPONENT:
            break
        T = T2
    return T


def _recurrence_chunked(log_decay: Tensor, H: Tensor, h0: Optional[Tensor], block: int) -> None:
    """In place: H[t] <- exp(log_decay[t]) * H[t-1] + H[t] (H[-1] = h0), blocked over time.

    Within a block starting at s0, with R_t = sum_{s0 < k <= t} log_decay[k] (R_{s0} = 0):
        h_t = e^{R_t} * (exp(log_decay[s0]) * h_in + sum_{s0 <= s <= t} e^{-R_s} X_s).
    The caller bounds |R| inside a block, so nothing overflows; the cumulative sum is then
    accurate relative to the sum of the absolute contributions to each state.
    """
    L = H.shape[0]
    rest = H.shape[1:]
    nblk = -(-L // block)
    pad = nblk * block - L
    if pad:
        zeros = H.new_zeros((pad,) + rest)
        Hp = torch.cat([H, zeros], 0)
        ld = torch.cat([log_decay, zeros], 0)
    else:
        Hp, ld = H, log_decay
    Hb = Hp.view((nblk, block) + rest)
    ldb = ld.view((nblk, block) + rest)
    first = ldb[:, 0].exp()
    R = ldb.clone()
    R[:, 0] = 0
    eR = R.cumsum_(1).exp_()
    Hb.div_(eR).cumsum_(1).mul_(eR)
    gain = eR.mul_(first.unsqueeze(1))  # how the incoming state enters each step of a block
    h_in = h0
    for k in range(nblk):
        if h_in is not None:
            Hb[k].addcmul_(gain[k], h_in.unsqueeze(0))
        h_in = Hb[k, -1]
    if pad:
        H.copy_(Hp[:L])


def _recurrence_chunked_auto(
    log_decay: Tensor, delta: Tensor, A: Tensor, H: Tensor, h0: Optional[Tensor]
) -> None:
    """Chunked recurrence, block length bounded by max |delta_t| * max |A| per step."""
    L = H.shape[0]
    rate = delta.abs().amax(dim=tuple(range(1, delta.dim()))) * A.abs().amax()
    block = _block_length(rate.double().tolist(), L) if L > 1 else 1
    if block > 1:
        _recurrence_chunked(log_decay, H, h0, block)
        return
    decay = log_decay.exp()
    if h0 is not None:
        H[0].addcmul_(decay[0], h0)
    for t in range(1, L):
        H[t].addcmul_(decay[t], H[t - 1])


def _scan_forward_chunked(u, delta, A, B, C, h0):
    L, batch, dim = u.shape
    N = A.shape[1]
    H = (delta * u).unsqueeze(-1) * B.unsqueeze(2)
    log_decay = delta.unsqueeze(-1) * A
    _recurrence_chunked_auto(log_decay, delta, A, H, h0)
    del log_decay
    y = torch.bmm(H.view(L * batch, dim, N), C.reshape(L * batch, N, 1)).view(L, batch, dim)
    return y, H


def _scan_backward_chunked(gy, glast, u, delta, A, B, C, h0, H):
    """Whole-sequence passes, with the reverse recurrence chunked like the forward one."""
    L, batch, dim = u.shape
    N = A.shape[1]
    LB = L * batch
    G = gy.unsqueeze(-1) * C.unsqueeze(2)
    if glast is not None:
        G[-1].add_(glast)
    if L > 1:
        # the same recurrence on reversed time, with the decays shifted by one step
        Gr = G.flip(0)
        ld = torch.empty_like(G)
        ld[0].zero_()
        dr = torch.cat([delta.new_zeros(1, batch, dim), delta[1:].flip(0)], 0)
        torch.mul(dr[1:].unsqueeze(-1), A, out=ld[1:])
        _recurrence_chunked_auto(ld, dr, A, Gr, None)
        del ld
        G = Gr.flip(0)
        del Gr
    Q = G * (delta.unsqueeze(-1) * A).exp_()
    gh0 = Q[0].clone() if h0 is not None else None
    if L > 1:
        Q[1:].mul_(H[:-1])
    if h0 is not None:
        Q[0].mul_(h0)
    else:
        Q[0].zero_()
    gd = (Q * A).sum(-1)
    gA = torch.einsum("kdn,kd->dn", Q.flatten(0, 1), delta.flatten(0, 1))
    del Q
    G3 = G.view(LB, dim, N)
    gC = torch.bmm(gy.view(LB, 1, dim), H.view(LB, dim, N)).view(L, batch, N)
    du = delta * u
    g_du = torch.bmm(G3, B.reshape(LB, N, 1)).view(L, batch, dim)
    gB = torch.bmm(du.view(LB, 1, dim), G3).view(L, batch, N)
    gdelta = gd.add_(g_du * u)
    gu = g_du.mul_(delta)
    return gu, gdelta, gA, gB, gC, gh0


def _use_chunked(method: str, length: int) -> bool:
    if method == "auto":
        return AUTO_CHUNKED_MIN_LENGTH is not None and length >= AUTO_CHUNKED_MIN_LENGTH
    return method == "chunked"


class _SelectiveScanFn(torch.autograd.Function):
    """Selective scan without D skip / gate, time-major (see notation above).

    Returns y (L, batch, dim) and the last state (batch, dim, N); both differentiable.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, h0, method):
        chunked = _use_chunked(method, u.shape[0])
        fwd = _scan_forward_chunked if chunked else _scan_forward_loop
        y, H = fwd(u, delta, A, B, C, h0)
        ctx.save_for_backward(u, delta, A, B, C, h0, H)
        ctx.chunked = chunked
        return y, H[-1].clone()

    @staticmethod
    def backward(ctx, gy, glast):
        u, delta, A, B, C, h0, H = ctx.saved_tensors
        gy = torch.zeros_like(u) if gy is None else gy.contiguous()
        bwd = _scan_backward_chunked if ctx.chunked else _scan_backward_loop
        gu, gdelta, gA, gB, gC, gh0 = bwd(gy, glast, u, delta, A, B, C, h0, H)
        return gu, gdelta, gA, gB, gC, gh0, None


def _to_time_major(t: Tensor, channel_last: bool) -> Tensor:
    """(batch, L, C) or (batch, C, L) -> contiguous (L, batch, C)."""
    return (t.transpose(0, 1) if channel_last else t.permute(2, 0, 1)).contiguous()


def _scan_time_major(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
    initial_state: Optional[Tensor], method: str,
) -> tuple[Tensor, Tensor]:
    if method not in ("auto", "loop", "chunked"):
        raise ValueError(f"unknown scan method {method!r}; expected 'auto', 'loop' or 'chunked'")
    work = torch.promote_types(u.dtype, torch.float32)
    args = [t.to(work).contiguous() for t in (u, delta, A, B, C)]
    h0 = initial_state.to(work).contiguous() if initial_state is not None else None
    L, batch, dim = u.shape
    if L == 0:  # nothing to scan: empty output, state unchanged
        last = h0 if h0 is not None else u.new_zeros(batch, dim, A.shape[1], dtype=work)
        return u.new_zeros(0, batch, dim, dtype=work), last
    return _SelectiveScanFn.apply(*args, h0, method)


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    z: Optional[Tensor] = None,
    delta_bias: Optional[Tensor] = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    initial_state: Optional[Tensor] = None,
    method: str = "auto",
):
    """Fast selective scan with the call signature of mamba-ssm's ``selective_scan_fn``.

    u, delta, z (batch, dim, L); A (dim, N) real; B, C (batch, N, L); D, delta_bias (dim,);
    initial_state (batch, dim, N) optional.  Other B/C layouts (time-invariant, grouped) and
    complex A fall back to :func:`selective_scan_reference`.
    """
    if (
        B.dim() != 3 or C.dim() != 3 or A.is_complex() or B.is_complex() or C.is_complex()
    ):
        if initial_state is not None:
            raise NotImplementedError("initial_state needs B, C of shape (batch, N, L)")
        return selective_scan_reference(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )
    dtype_in = u.dtype
    work = torch.promote_types(u.dtype, torch.float32)
    delta = delta.to(work)
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    y, last = _scan_time_major(
        _to_time_major(u, False), _to_time_major(delta, False), A,
        _to_time_major(B, False), _to_time_major(C, False), initial_state, method,
    )
    y = y.permute(1, 2, 0)  # (batch, dim, L)
    uw = u.to(work)
    if D is not None:
        y = y + uw * D.to(work)[:, None]
    if z is not None:
        y = y * F.silu(z.to(work))
    y = y.to(dtype_in)
    return (y, last) if return_last_state else y


# --------------------------------------------------------------------------------------------
# The Mamba block
# --------------------------------------------------------------------------------------------


class Mamba(nn.Module):
    """Mamba-1 mixer; parameters, initialisation and maths as mamba-ssm's ``mamba_simple.Mamba``.

    Input and output (batch, length, d_model).  ``scan_method`` selects the CPU scan
    ("auto", "loop" or "chunked"); ``use_cuda_kernel`` lets CUDA inputs use mamba-ssm's kernel
    when it is installed.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank="auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: str = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        use_cuda_kernel: bool = True,
        scan_method: str = "auto",
        device=None,
        dtype=None,
    ):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.use_cuda_kernel = use_cuda_kernel
        self.scan_method = scan_method

        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias, **fk)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner,
            padding=d_conv - 1, bias=conv_bias, **fk,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **fk)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **fk)

        # dt_proj: weight ~ U[-s, s] (or constant s), s = dt_rank^-0.5 * dt_scale; bias = the
        # inverse softplus of dt ~ log-uniform[dt_min, dt_max] floored at dt_init_floor.
        dt_init_std = self.dt_rank**-0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, dt_init_std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        else:
            raise ValueError(f"dt_init must be 'random' or 'constant', got {dt_init!r}")
        dt = torch.exp(
            torch.rand(self.d_inner, device=device) * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))
        with torch.no_grad():
            self.dt_proj.bias.copy_(inv_dt)
        self.dt_proj.bias._no_reinit = True

        # S4D-real initialisation: A = -(1, 2, ..., d_state) for every channel.
        A = torch.arange(1, d_state + 1, dtype=torch.float32, device=device)
        A = A.unsqueeze(0).expand(self.d_inner, d_state).contiguous()
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(self.d_inner, device=device))
        self.D._no_weight_decay = True

        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **fk)

    # ---------------------------------------------------------------------------------------
    def init_state(self, batch_size: int, device=None, dtype=None) -> MambaState:
        """Zero (conv_state (batch, d_inner, d_conv), ssm_state (batch, d_inner, d_state))."""
        device = device if device is not None else self.out_proj.weight.device
        conv_dtype = dtype if dtype is not None else self.conv1d.weight.dtype
        ssm_dtype = self.dt_proj.weight.dtype if dtype is None else torch.promote_types(
            dtype, torch.float32
        )
        conv_state = torch.zeros(
            batch_size, self.d_inner, self.d_conv, device=device, dtype=conv_dtype
        )
        ssm_state = torch.zeros(
            batch_size, self.d_inner, self.d_state, device=device, dtype=ssm_dtype
        )
        return conv_state, ssm_state

    def _conv(self, x: Tensor, conv_state: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        """Depthwise causal conv, time-major: x (L, batch, d_inner) -> same, new conv_state.

        out[t] = bias + sum_k w[:, k] * xp[t + k], xp = (last d_conv - 1 inputs, x): the
        cross-correlation that mamba-ssm's Conv1d (padding d_conv - 1, cut to L) computes.
        """
        K = self.d_conv
        L = x.shape[0]
        if conv_state is None:
            prefix = x.new_zeros(K - 1, x.shape[1], self.d_inner)
        else:
            prefix = conv_state[:, :, 1:].permute(2, 0, 1).to(x.dtype)
        xp = torch.cat([prefix, x], dim=0)  # (L + K - 1, batch, d_inner)
        w = self.conv1d.weight[:, 0, :]  # (d_inner, K)
        bias = self.conv1d.bias
        if bias is None:
            y = xp[0:L] * w[:, 0]
        else:
            y = torch.addcmul(bias, xp[0:L], w[:, 0])
        for k in range(1, K):
            y = torch.addcmul(y, xp[k : k + L], w[:, k])
        new_state = xp[xp.shape[0] - K :].permute(1, 2, 0).contiguous()  # (batch, d_inner, K)
        return y, new_state

    def forward(
        self, hidden_states: Tensor, state: Optional[MambaState] = None, return_state: bool = False
    ):
        """(batch, L, d_model) -> (batch, L, d_model); optionally from / to a streaming state.

        Internally time-major, so the scan reads contiguous per-step slabs without copies.
        """
        conv_state = ssm_state = None
        if state is not None:
            conv_state, ssm_state = state
        if hidden_states.shape[1] == 0:  # empty input: empty output, state unchanged
            out = self.out_proj(self.in_proj(hidden_states)[..., : self.d_inner])
            if not return_state:
                return out
            if state is None:
                state = self.init_state(hidden_states.shape[0], hidden_states.device)
            return out, state
        if (
            self.use_cuda_kernel
            and hidden_states.is_cuda
            and state is None
            and mamba_ssm_available()
        ):
            out, new_state = self._forward_cuda(hidden_states)
            return (out, new_state) if return_state else out

        xz = self.in_proj(hidden_states.transpose(0, 1))  # (L, batch, 2 d_inner)
        x, z = xz.chunk(2, dim=-1)
        x, new_conv_state = self._conv(x, conv_state)
        x = F.silu(x)
        dt, Bm, Cm = torch.split(
            self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1
        )
        work = torch.promote_types(x.dtype, torch.float32)
        # dt_proj's bias enters the softplus as mamba-ssm's delta_bias
        delta = F.softplus(
            F.linear(dt, self.dt_proj.weight).to(work) + self.dt_proj.bias.to(work)
        )
        A = -torch.exp(self.A_log.float())
        y, last = _scan_time_major(
            x, delta, A, Bm, Cm, ssm_state, self.scan_method
        )  # (L, batch, d_inner)
        y = torch.addcmul(y, x.to(work), self.D.to(work))
        y = (y * F.silu(z.to(work))).to(x.dtype)
        out = self.out_proj(y).transpose(0, 1).contiguous()
        if return_state:
            ssm_dtype = ssm_state.dtype if ssm_state is not None else self.dt_proj.weight.dtype
            return out, (new_conv_state, last.to(ssm_dtype))
        return out

    def _forward_cuda(self, hidden_states: Tensor) -> tuple[Tensor, MambaState]:
        """mamba-ssm's slow path with its CUDA selective-scan kernel (batch-first layout)."""
        batch, L, _ = hidden_states.shape
        xz = self.in_proj(hidden_states).transpose(1, 2)  # (batch, 2 d_inner, L)
        x, z = xz.chunk(2, dim=1)
        x_pad = F.pad(x, (self.d_conv - 1, 0))
        new_conv_state = x_pad[:, :, x_pad.shape[-1] - self.d_conv :].contiguous()
        x = F.silu(
            F.conv1d(x_pad, self.conv1d.weight, self.conv1d.bias, groups=self.d_inner)
        )
        x_dbl = self.x_proj(x.transpose(1, 2))  # (batch, L, dt_rank + 2 d_state)
        dt, Bm, Cm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight).transpose(1, 2)
        A = -torch.exp(self.A_log.float())
        y, last = self._cuda_scan(x, dt, A, Bm.transpose(1, 2), Cm.transpose(1, 2), z)
        out = self.out_proj(y.transpose(1, 2))
        return out, (new_conv_state, last)

    def _cuda_scan(self, x, dt, A, Bm, Cm, z):
        selective_scan_fn = _mamba_ssm_scan_fn()
        return selective_scan_fn(
            x.contiguous(),
            dt.contiguous(),
            A,
            Bm.contiguous(),
            Cm.contiguous(),
            self.D.float(),
            z=z.contiguous(),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            return_last_state=True,
        )

    def step(self, x_t: Tensor, state: MambaState) -> tuple[Tensor, MambaState]:
        """One token: x_t (batch, d_model) -> (y_t (batch, d_model), new state).  O(1) in time."""
        conv_state, ssm_state = state
        xz = self.in_proj(x_t)
        x, z = xz.chunk(2, dim=-1)  # (batch, d_inner)
        conv_state = torch.cat([conv_state[:, :, 1:], x.unsqueeze(-1).to(conv_state.dtype)], dim=-1)
        x = (conv_state * self.conv1d.weight[:, 0, :]).sum(-1)
        if self.conv1d.bias is not None:
            x = x + self.conv1d.bias
        x = F.silu(x).to(x_t.dtype)
        x_db = self.x_proj(x)
        dt, Bm, Cm = torch.split(x_db, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)
        work = ssm_state.dtype
        A = -torch.exp(self.A_log.float()).to(work)
        dt = F.softplus(dt.to(work) + self.dt_proj.bias.to(work))
        dA = torch.exp(dt.unsqueeze(-1) * A)  # (batch, d_inner, d_state)
        dBx = (dt * x.to(work)).unsqueeze(-1) * Bm.to(work).unsqueeze(1)
        ssm_state = ssm_state * dA + dBx
        y = torch.bmm(ssm_state, Cm.to(work).unsqueeze(-1)).squeeze(-1)
        y = y + self.D.to(work) * x.to(work)
        y = (y * F.silu(z.to(work))).to(x_t.dtype)
        return self.out_proj(y), (conv_state, ssm_state)


# --------------------------------------------------------------------------------------------
# Residual wrapper and stack
# --------------------------------------------------------------------------------------------


def _make_norm(kind: str, d_model: int, eps: float) -> nn.Module:
    kind = kind.lower()
    if kind in ("layernorm", "layer_norm", "ln"):
        return nn.LayerNorm(d_model, eps=eps)
    if kind in ("rmsnorm", "rms_norm", "rms"):
        return nn.RMSNorm(d_model, eps=eps)
    raise ValueError(f"norm must be 'layernorm' or 'rmsnorm', got {kind!r}")


class MambaBlock(nn.Module):
    """Pre-norm residual block: x + dropout(Mamba(norm(x))).

    Submodule names follow mamba-ssm's ``Block`` (``norm``, ``mixer``).
    """

    def __init__(
        self, d_model: int, norm: str = "layernorm", norm_eps: float = 1e-5,
        dropout: float = 0.0, **mamba_kwargs,
    ):
        super().__init__()
        self.norm = _make_norm(norm, d_model, norm_eps)
        self.mixer = Mamba(d_model, **mamba_kwargs)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def init_state(self, batch_size: int, device=None, dtype=None) -> MambaState:
        return self.mixer.init_state(batch_size, device, dtype)

    def forward(self, x: Tensor, state: Optional[MambaState] = None, return_state: bool = False):
        if return_state or state is not None:
            y, new_state = self.mixer(self.norm(x), state=state, return_state=True)
            out = x + self.dropout(y)
            return (out, new_state) if return_state else out
        return x + self.dropout(self.mixer(self.norm(x)))

    def step(self, x_t: Tensor, state: MambaState) -> tuple[Tensor, MambaState]:
        y, state = self.mixer.step(self.norm(x_t), state)
        return x_t + self.dropout(y), state


class MambaStack(nn.Module):
    """``n_layers`` :class:`MambaBlock` s followed by a final norm (as mamba-ssm's MixerModel).

    With ``rescale_prenorm_residual`` the out-projections are re-initialised as in mamba-ssm's
    ``_init_weights`` (kaiming-uniform divided by sqrt(n_layers)); biases of Linear layers
    other than dt_proj are zeroed.
    """

    def __init__(
        self, d_model: int, n_layers: int, norm: str = "layernorm", norm_eps: float = 1e-5,
        dropout: float = 0.0, final_norm: bool = True, rescale_prenorm_residual: bool = True,
        **mamba_kwargs,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            MambaBlock(d_model, norm=norm, norm_eps=norm_eps, dropout=dropout, **mamba_kwargs)
            for _ in range(n_layers)
        )
        self.norm_f = _make_norm(norm, d_model, norm_eps) if final_norm else nn.Identity()
        if rescale_prenorm_residual:
            for module in self.modules():
                if isinstance(module, nn.Linear) and module.bias is not None:
                    if not getattr(module.bias, "_no_reinit", False):
                        nn.init.zeros_(module.bias)
            for layer in self.layers:
                w = layer.mixer.out_proj.weight
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                with torch.no_grad():
                    w /= math.sqrt(n_layers)

    def init_state(self, batch_size: int, device=None, dtype=None) -> list[MambaState]:
        return [layer.init_state(batch_size, device, dtype) for layer in self.layers]

    def forward(self, x: Tensor, state: Optional[list] = None, return_state: bool = False):
        new_states = []
        for i, layer in enumerate(self.layers):
            if state is not None or return_state:
                x, s = layer(x, state=None if state is None else state[i], return_state=True)
                new_states.append(s)
            else:
                x = layer(x)
        x = self.norm_f(x)
        return (x, new_states) if return_state else x

    def step(self, x_t: Tensor, state: list) -> tuple[Tensor, list]:
        new_states = []
        for layer, s in zip(self.layers, state):
            x_t, s = layer.step(x_t, s)
            new_states.append(s)
        return self.norm_f(x_t), new_states


class MambaStepper:
    """Inference form of :meth:`MambaStack.step` for streaming (same outputs, fewer ops).

    Weights are snapshots taken at construction (row-major copies for batch-1 matmuls, ``A``
    already exponentiated); build a new stepper after training. ``step`` as the stack's; the
    state has its own layout (see :meth:`init_state`).
    """

    def __init__(self, stack: "MambaStack"):
        self.stack = stack
        self.layers = []
        with torch.no_grad():
            for block in stack.layers:
                m = block.mixer
                self.layers.append({
                    "norm": frozen_norm(block.norm),
                    "in_proj": FrozenLinear(m.in_proj),
                    "conv_w": self._rolled_conv_weights(m.conv1d.weight[:, 0, :].detach(), m.conv1d.bias),
                    "x_proj": FrozenLinear(m.x_proj),
                    "dt_proj": FrozenLinear(m.dt_proj),
                    "split": [m.dt_rank, m.d_state, m.d_state],
                    "xz": [m.d_inner, m.d_inner],
                    "A": -torch.exp(m.A_log.detach().float()),
                    "D": m.D.detach().float().clone(),
                    "out_proj": FrozenLinear(m.out_proj),
                })
            self.norm_f = frozen_norm(stack.norm_f)
        self.d_conv = stack.layers[0].mixer.d_conv if stack.layers else 1

    @staticmethod
    def _rolled_conv_weights(w: Tensor, bias: Tensor | None) -> Tensor:
        """(K, K + 1, 1, d_inner): for the ring slot p holding the newest input, weight of each slot.

        The conv is ``sum_k w[:, k] x[t - (K - 1 - k)]``; slot ``s`` holds the input of lag
        ``(p - s) mod K``, so it is weighted by ``w[:, K - 1 - lag]``. The ring's extra last slot
        holds ones and is weighted by the bias (zero without one): the bias costs no extra op.
        """
        K = w.shape[1]
        rolled = torch.zeros(K, K + 1, 1, w.shape[0], dtype=w.dtype, device=w.device)
        for p in range(K):
            for s in range(K):
                rolled[p, s, 0] = w[:, K - 1 - (p - s) % K]
            if bias is not None:
                rolled[p, K, 0] = bias.detach()
        return rolled

    def init_state(self, batch_size: int, device=None, dtype=None) -> list:
        """Per layer: (ring of the last d_conv inputs, time-major (d_conv + 1, batch, d_inner), the
        last slot all ones for the conv bias; SSM state (batch, d_inner, d_state); step count).
        Time-major rings make the depthwise conv one vectorised multiply-sum instead of a
        concatenation and a reduction over 4 elements."""
        states = []
        for conv_state, ssm_state in self.stack.init_state(batch_size, device, dtype):
            ring = conv_state.permute(2, 0, 1)
            states.append((torch.cat((ring, torch.ones_like(ring[:1]))), ssm_state, 0))
        return states

    def step(self, x_t: Tensor, state: list) -> tuple[Tensor, list]:
        new_states = []
        for p, (ring, ssm_state, t) in zip(self.layers, state):
            x, z = p["in_proj"](p["norm"](x_t) if p["norm"] is not None else x_t).split_with_sizes(p["xz"], dim=-1)
            slot = t % self.d_conv
            ring[slot].copy_(x)  # the ring is owned by this stream: updated in place
            x = F.silu((ring * p["conv_w"][slot]).sum(0), inplace=True)  # conv with its bias
            dt, B, C = p["x_proj"](x).split_with_sizes(p["split"], dim=-1)  # torch.split is Python
            dt = F.softplus(p["dt_proj"](dt))
            dA = torch.mul(dt.unsqueeze(-1), p["A"]).exp_()  # (batch, d_inner, d_state)
            # the SSM state is owned by this stream: updated in place
            ssm_state.mul_(dA).addcmul_((dt * x).unsqueeze(-1), B.unsqueeze(1))
            y = torch.addcmul(torch.bmm(ssm_state, C.unsqueeze(-1)).squeeze(-1), p["D"], x)
            y = y.mul_(F.silu(z))
            out = p["out_proj"]
            x_t = out.add(x_t, y) if out.bias is None else out.add(x_t + out.bias, y)
            new_states.append((ring, ssm_state, t + 1))
        return (x_t if self.norm_f is None else self.norm_f(x_t)), new_states
