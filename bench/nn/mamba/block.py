"""The Mamba-1 mixer, its pre-norm residual block and the stack the backbones use.

Parameter names, shapes and initialisation follow ``mamba_ssm.modules.mamba_simple.Mamba``
(Gu & Dao, 2023), so a state dict trained with mamba-ssm on a GPU loads here with
``load_state_dict(strict=True)`` and gives the same outputs (and saved weights keep loading):

    x, z   = in_proj(h).chunk(2)                       (batch, length, d_inner) each
    x      = SiLU(depthwise causal conv1d(x))
    dt,B,C = split(x_proj(x), [dt_rank, d_state, d_state])
    dt     = softplus(dt_proj.weight @ dt + dt_proj.bias)
    y      = selective_scan(x, dt, A=-exp(A_log), B, C) + D * x
    out    = out_proj(y * SiLU(z))

On a CUDA input with mamba-ssm installed the scan is mamba-ssm's kernel; everywhere else it is
the pure-PyTorch scan of :mod:`bench.nn.mamba.scan`. Streaming one step at a time is
:class:`bench.nn.mamba.stepper.MambaStepper`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.nn.mamba.scan import mamba_ssm_available, mamba_ssm_scan_fn, selective_scan_time_major


class Mamba(nn.Module):
    """Mamba-1 mixer, (batch, length, d_model) -> same; maths and parameters as mamba-ssm's.

    ``use_cuda_kernel=False`` keeps CUDA inputs on the pure-PyTorch scan even when mamba-ssm is
    installed (to compare the two).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        use_cuda_kernel: bool = True,
    ):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.use_cuda_kernel = use_cuda_kernel

        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=False)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner, padding=d_conv - 1,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)

        # mamba-ssm's dt initialisation: weight ~ U[-s, s], s = dt_rank^-0.5; bias = the inverse
        # softplus of dt ~ log-uniform[dt_min, dt_max] floored at dt_init_floor, so that the
        # initial step sizes span the time scales from dt_min to dt_max.
        dt_init_std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        dt = torch.exp(
            torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))
        with torch.no_grad():
            self.dt_proj.bias.copy_(inv_dt)

        # S4D-real initialisation: A = -(1, 2, ..., d_state) for every channel.
        A = torch.arange(1, d_state + 1, dtype=torch.float32)
        A = A.unsqueeze(0).expand(self.d_inner, d_state).contiguous()
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))

        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def _conv(self, x: Tensor) -> Tensor:
        """Depthwise causal conv, time-major: x (L, batch, d_inner) -> same.

        out[t] = bias + sum_k w[:, k] * xp[t + k], xp = (d_conv - 1 zeros, x): the
        cross-correlation that mamba-ssm's Conv1d (padding d_conv - 1, cut to L) computes, done
        as a few multiply-adds on contiguous time slices instead of a transposed copy.
        """
        K = self.d_conv
        L = x.shape[0]
        xp = torch.cat([x.new_zeros(K - 1, x.shape[1], self.d_inner), x], dim=0)
        w = self.conv1d.weight[:, 0, :]  # (d_inner, K)
        y = torch.addcmul(self.conv1d.bias, xp[0:L], w[:, 0])
        for k in range(1, K):
            y = torch.addcmul(y, xp[k : k + L], w[:, k])
        return y

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(batch, L, d_model) -> (batch, L, d_model).

        Internally time-major, so the scan reads contiguous per-step slabs without copies.
        """
        if self.use_cuda_kernel and hidden_states.is_cuda and mamba_ssm_available():
            return self._forward_cuda(hidden_states)
        xz = self.in_proj(hidden_states.transpose(0, 1))  # (L, batch, 2 d_inner)
        x, z = xz.chunk(2, dim=-1)
        x = F.silu(self._conv(x))
        dt, Bm, Cm = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        work = torch.promote_types(x.dtype, torch.float32)
        # dt_proj's bias enters the softplus as mamba-ssm's delta_bias
        delta = F.softplus(F.linear(dt, self.dt_proj.weight).to(work) + self.dt_proj.bias.to(work))
        A = -torch.exp(self.A_log.float())
        y = selective_scan_time_major(x, delta, A, Bm, Cm)  # (L, batch, d_inner)
        y = torch.addcmul(y, x.to(work), self.D.to(work))
        y = (y * F.silu(z.to(work))).to(x.dtype)
        return self.out_proj(y).transpose(0, 1).contiguous()

    def _forward_cuda(self, hidden_states: Tensor) -> Tensor:
        """mamba-ssm's slow path with its CUDA selective-scan kernel (batch-first layout)."""
        L = hidden_states.shape[1]
        xz = self.in_proj(hidden_states).transpose(1, 2)  # (batch, 2 d_inner, L)
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d(x)[..., :L])
        x_dbl = self.x_proj(x.transpose(1, 2))  # (batch, L, dt_rank + 2 d_state)
        dt, Bm, Cm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight).transpose(1, 2)
        A = -torch.exp(self.A_log.float())
        y = mamba_ssm_scan_fn()(
            x.contiguous(),
            dt.contiguous(),
            A,
            Bm.transpose(1, 2).contiguous(),
            Cm.transpose(1, 2).contiguous(),
            self.D.float(),
            z=z.contiguous(),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )
        return self.out_proj(y.transpose(1, 2))


class MambaBlock(nn.Module):
    """Pre-norm residual block: x + dropout(Mamba(LayerNorm(x))).

    Submodule names follow mamba-ssm's ``Block`` (``norm``, ``mixer``).
    """

    def __init__(self, d_model: int, dropout: float = 0.0, **mamba_kwargs):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = Mamba(d_model, **mamba_kwargs)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.mixer(self.norm(x)))


class MambaStack(nn.Module):
    """``n_layers`` :class:`MambaBlock` s followed by a final LayerNorm (as mamba-ssm's MixerModel).

    The out-projections are re-initialised as in mamba-ssm's ``_init_weights``
    (kaiming-uniform divided by sqrt(n_layers)), so that the residual stream's variance does not
    grow with depth at initialisation.
    """

    def __init__(self, d_model: int, n_layers: int, dropout: float = 0.0, **mamba_kwargs):
        super().__init__()
        self.layers = nn.ModuleList(
            MambaBlock(d_model, dropout=dropout, **mamba_kwargs) for _ in range(n_layers)
        )
        self.norm_f = nn.LayerNorm(d_model)
        for layer in self.layers:
            w = layer.mixer.out_proj.weight
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            with torch.no_grad():
                w /= math.sqrt(n_layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.norm_f(x)
