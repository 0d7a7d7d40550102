"""Streaming form of :class:`bench.nn.mamba.block.MambaStack`: one token per call, O(1) in time.

Why a separate class and not a ``step`` method on the modules: a streaming decoder advances one
50 ms chunk at batch 1, where Python and per-op overheads dominate the arithmetic. The stepper
snapshots the weights once (row-major copies for batch-1 matmuls, ``A`` already exponentiated,
the depthwise conv pre-arranged for a ring buffer) and updates its state in place, so a step is a
short run of single ops. It computes the same recurrence as the full-sequence forward (tests
check it equals the forward at every step); build a new stepper after the weights change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.nn.frozen import FrozenLayerNorm, FrozenLinear
from bench.nn.mamba.block import MambaStack

# Per layer: (ring of the last d_conv inputs plus a ones slot, SSM state, steps taken).
MambaStepState = list[tuple[Tensor, Tensor, int]]


class MambaStepper:
    """Inference form of :class:`MambaStack` for streaming (same outputs, fewer ops)."""

    def __init__(self, stack: MambaStack):
        self.layers = []
        with torch.no_grad():
            for block in stack.layers:
                m = block.mixer
                self.layers.append({
                    "norm": FrozenLayerNorm(block.norm),
                    "in_proj": FrozenLinear(m.in_proj),
                    "conv_w": self._rolled_conv_weights(m.conv1d.weight[:, 0, :].detach(), m.conv1d.bias.detach()),
                    "x_proj": FrozenLinear(m.x_proj),
                    "dt_proj": FrozenLinear(m.dt_proj),
                    "split": [m.dt_rank, m.d_state, m.d_state],
                    "xz": [m.d_inner, m.d_inner],
                    "A": -torch.exp(m.A_log.detach().float()),
                    "D": m.D.detach().float().clone(),
                    "out_proj": FrozenLinear(m.out_proj),
                })
            self.norm_f = FrozenLayerNorm(stack.norm_f)
        first = stack.layers[0].mixer  # the layers share d_conv, device and dtypes
        self.d_conv = first.d_conv
        self._state_shapes = [(b.mixer.d_inner, b.mixer.d_state) for b in stack.layers]
        self._device = first.conv1d.weight.device
        self._conv_dtype, self._ssm_dtype = first.conv1d.weight.dtype, first.dt_proj.weight.dtype

    @staticmethod
    def _rolled_conv_weights(w: Tensor, bias: Tensor) -> Tensor:
        """(K, K + 1, 1, d_inner): for the ring slot p holding the newest input, weight of each slot.

        The conv is ``sum_k w[:, k] x[t - (K - 1 - k)]``; slot ``s`` holds the input of lag
        ``(p - s) mod K``, so it is weighted by ``w[:, K - 1 - lag]``. The ring's extra last slot
        holds ones and is weighted by the bias: the bias costs no extra op.
        """
        K = w.shape[1]
        rolled = torch.zeros(K, K + 1, 1, w.shape[0], dtype=w.dtype, device=w.device)
        for p in range(K):
            for s in range(K):
                rolled[p, s, 0] = w[:, K - 1 - (p - s) % K]
            rolled[p, K, 0] = bias
        return rolled

    def init_state(self, batch_size: int, device=None, dtype=None) -> MambaStepState:
        """Per layer: (ring of the last d_conv inputs, time-major (d_conv + 1, batch, d_inner), the
        last slot all ones for the conv bias; SSM state (batch, d_inner, d_state); step count).
        Time-major rings make the depthwise conv one vectorised multiply-sum instead of a
        concatenation and a reduction over 4 elements."""
        device = device if device is not None else self._device
        conv_dtype = dtype if dtype is not None else self._conv_dtype
        ssm_dtype = self._ssm_dtype if dtype is None else torch.promote_types(dtype, torch.float32)
        states = []
        for d_inner, d_state in self._state_shapes:
            ring = torch.zeros(self.d_conv + 1, batch_size, d_inner, device=device, dtype=conv_dtype)
            ring[-1] = 1
            ssm_state = torch.zeros(batch_size, d_inner, d_state, device=device, dtype=ssm_dtype)
            states.append((ring, ssm_state, 0))
        return states

    def step(self, x_t: Tensor, state: MambaStepState) -> tuple[Tensor, MambaStepState]:
        """One token: x_t (batch, d_model) -> (y_t (batch, d_model), new state)."""
        new_states = []
        for p, (ring, ssm_state, t) in zip(self.layers, state):
            x, z = p["in_proj"](p["norm"](x_t)).split_with_sizes(p["xz"], dim=-1)
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
            x_t = p["out_proj"].add(x_t, y)  # residual + out_proj (no bias) in one op
            new_states.append((ring, ssm_state, t + 1))
        return self.norm_f(x_t), new_states
