"""Recurrent backbones over a sequence of chunks or bins: GRU, S4D and Mamba, one streaming interface.

Used by POSSM (over chunk latents) and by the binned recurrent baselines (over spike counts).

``forward(x)`` maps (batch, chunks, in_dim) to (batch, chunks, out_dim) in one pass (cuDNN-style
GRU, FFT convolution for S4D, selective scan for Mamba). ``stepper()`` returns the streaming form
that decoders build at ``reset``: ``init_state`` / ``step`` do the same one chunk at a time with a
state whose size does not depend on how many chunks came before (a weights snapshot with fewer
ops per step; tests check it equals ``forward``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from bench.nn.frozen import FrozenLinear
from bench.nn.mamba import MambaStack, MambaStepper
from bench.nn.s4d import S4DStack, S4DStepper


class GRUBackbone(nn.Module):
    """Multi-layer GRU; it is its own stepper (``step`` runs the fused GRU cell)."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float = 0.0):
        super().__init__()
        self.out_dim = hidden
        self.rnn = nn.GRU(in_dim, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.rnn(x)[0]

    def init_state(self, batch_size: int, device=None, dtype=None) -> Any:
        return None

    def step(self, x_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One step through the layers with torch.gru_cell (one fused op per layer; calling the
        nn.GRU module on a length-1 sequence costs several times more)."""
        if state is None:
            state = x_t.new_zeros(self.rnn.num_layers, x_t.shape[0], self.rnn.hidden_size)
        weights = self.rnn._flat_weights  # per layer: weight_ih, weight_hh, bias_ih, bias_hh
        h_new, x = [], x_t
        for layer in range(self.rnn.num_layers):
            x = torch.gru_cell(x, state[layer], *weights[4 * layer : 4 * layer + 4])
            h_new.append(x)
        return x, (x.unsqueeze(0) if len(h_new) == 1 else torch.stack(h_new))

    def stepper(self) -> "GRUBackbone":
        return self  # torch.gru_cell is already one fused op per layer


class ProjectedSSMBackbone(nn.Module):
    """Linear projection to d_model, then a stack of pre-norm residual state-space blocks.

    One class for S4D and Mamba, which differ only in the stack: ``stack_type(d_model, layers,
    **stack_kwargs)`` builds it and ``stepper_type(stack)`` its streaming form. The submodule
    names (``proj``, ``ssm``) are the state-dict prefixes of saved weights: keep them.
    """

    def __init__(self, in_dim: int, d_model: int, layers: int, stack_type: type[nn.Module],
                 stepper_type: Callable[[nn.Module], Any], **stack_kwargs: Any):
        super().__init__()
        self.out_dim = d_model
        self.proj = nn.Linear(in_dim, d_model)
        self.ssm = stack_type(d_model, layers, **stack_kwargs)
        self._stepper_type = stepper_type

    def forward(self, x: Tensor) -> Tensor:
        return self.ssm(self.proj(x))

    def stepper(self) -> "ProjectedStepper":
        return ProjectedStepper(self.proj, self._stepper_type(self.ssm))


class ProjectedStepper:
    """Input projection then a state-space stepper (the inference form of :class:`ProjectedSSMBackbone`)."""

    def __init__(self, proj: nn.Linear, ssm: Any):
        self.proj = FrozenLinear(proj)
        self.ssm = ssm

    def init_state(self, batch_size: int, device=None, dtype=None) -> Any:
        return self.ssm.init_state(batch_size, device, dtype)

    def step(self, x_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        return self.ssm.step(self.proj(x_t), state)


def make_backbone(kind: str, in_dim: int, hidden: int, layers: int, d_state: int, expand: int,
                  dropout: float) -> nn.Module:
    if kind == "gru":
        return GRUBackbone(in_dim, hidden, layers, dropout)
    if kind == "s4d":
        return ProjectedSSMBackbone(in_dim, hidden, layers, S4DStack, S4DStepper, d_state=d_state, dropout=dropout)
    if kind == "mamba":
        return ProjectedSSMBackbone(in_dim, hidden, layers, MambaStack, MambaStepper, d_state=d_state, expand=expand,
                                    dropout=dropout)
    raise ValueError(f"unknown backbone {kind!r}")

