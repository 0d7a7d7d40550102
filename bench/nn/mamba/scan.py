"""The selective scan of Mamba-1: a pure-PyTorch CPU/GPU implementation and mamba-ssm's CUDA kernel.

Per channel d and state n (zero-order hold on A, Euler on B, as mamba-ssm does):

    h_t = exp(dt_t A) * h_{t-1} + dt_t B_t u_t,        y_t = <C_t, h_t>

Why a hand-written autograd function: written with ordinary tensor ops, autograd would keep one
graph node and one state copy per op and time step. :class:`_SelectiveScanFn` runs in
time-major layout, so every step is one contiguous (batch, d_inner, d_state) slab that a handful
of fused in-place ops update while it is in cache; the backward pass is the same loop in
reverse, recomputing the decays and accumulating every gradient per step, so only the states are
stored. (A chunked, cumulative-sum form was measured slower on CPU at every size tried and was
removed.)

mamba-ssm's compiled kernel (optional, CUDA only) is imported lazily and only when CUDA is
available, so CPU-only machines never touch it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import torch
from torch import Tensor


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


def mamba_ssm_scan_fn() -> Callable:
    """mamba-ssm's ``selective_scan_fn`` (call only when :func:`mamba_ssm_available`)."""
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    return selective_scan_fn


# --------------------------------------------------------------------------------------------
# Pure-PyTorch scan: time-major kernels with a hand-written backward
# --------------------------------------------------------------------------------------------
#
# Notation (time-major, contiguous): u, delta (L, b, D); A (D, N); B, C (L, b, N); the state
# starts at zero.  decay_t = exp(delta_t A), X_t = delta_t u_t B_t (outer product),
# h_t = decay_t h_{t-1} + X_t, y_t = <h_t, C_t>_N.  Backward, with G_t = dLoss/dh_t:
#     G_t = gy_t C_t + decay_{t+1} G_{t+1}              (reverse recurrence)
#     Q_t = G_t decay_t h_{t-1}                         (= dLoss/d(delta_t A))
#     gdelta = sum_N Q A + u sum_N G B,   gu = delta sum_N G B,   gA = sum_{t,b} Q delta
#     gB = sum_D G delta u,   gC = sum_D gy h.


def _scan_forward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
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
    prev = None
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


def _scan_backward(gy: Tensor, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, H: Tensor):
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
    for t in range(L - 1, -1, -1):
        g_t = Gs[t % 2]
        torch.mul(gyb[t], Cb[t], out=g_t)
        if t < L - 1:
            g_t.addcmul_(decays[(t + 1) % 2], Gs[(t + 1) % 2])
        torch.bmm(Br[t], g_t.transpose(1, 2), out=g_du[t].unsqueeze(1))
        torch.bmm(dur[t], g_t, out=gB[t].unsqueeze(1))
        torch.bmm(gyr[t], H[t], out=gC[t].unsqueeze(1))
        if t == 0:  # the initial state is zero: nothing flows through the first decay
            gd[0].zero_()
            break
        decay = decays[t % 2]
        torch.mul(dl[t], A, out=decay)
        decay.exp_()
        torch.mul(g_t, decay, out=Q)
        Q.mul_(H[t - 1])
        torch.mul(Q, A, out=P)
        torch.mv(P.view(-1, N), ones, out=gd[t].view(-1))
        accA.addcmul_(Q, dl[t])
    gdelta = gd.add_(g_du * u)
    gu = g_du.mul_(delta)
    return gu, gdelta, accA.sum(0), gB, gC


class _SelectiveScanFn(torch.autograd.Function):
    """Selective scan without D skip / gate, time-major (see notation above); returns y."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C):
        y, H = _scan_forward(u, delta, A, B, C)
        ctx.save_for_backward(u, delta, A, B, C, H)
        return y

    @staticmethod
    def backward(ctx, gy):
        u, delta, A, B, C, H = ctx.saved_tensors
        return _scan_backward(gy.contiguous(), u, delta, A, B, C, H)


def selective_scan_time_major(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """Selective scan from a zero state, differentiable in every input.

    u, delta (L, batch, dim); A (dim, N) real; B, C (L, batch, N). Computed in float32 (or
    wider) and returned in that dtype as y (L, batch, dim), without the ``D`` skip and gate.
    """
    work = torch.promote_types(u.dtype, torch.float32)
    return _SelectiveScanFn.apply(*(t.to(work).contiguous() for t in (u, delta, A, B, C)))
