"""Recurrent decoders on binned counts: GRU, S4D and Mamba baselines, streamed by carrying state.

Counts (or feature streams, see ``bench.models.binned``) are standardised per channel, embedded by a linear layer, passed through the backbone
(``bench.nn.backbones``: the same GRU / S4D / Mamba blocks POSSM uses) and read out per bin.
The S4D and Mamba configurations are sized like the GRU baseline (~0.25M parameters with 85
units) so the comparison is about the recurrence, not the size.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.models.base import SpikeChunk
from bench.models.binned import BinnedMixin, BinnedParams, query_bins
from bench.models.presets import Preset
from bench.models.torch_decoder import TorchDecoder
from bench.nn.backbones import make_backbone
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind


class RecurrentParams(BinnedParams):
    backbone: Literal["gru", "s4d", "mamba"] = "gru"
    embed_dim: int = Field(64, ge=1, le=8192, description="linear projection of the counts before the backbone")
    hidden: int = Field(256, ge=1, le=8192, description="GRU hidden size / SSM d_model")
    layers: int = Field(1, ge=1, le=32)
    d_state: int = Field(64, ge=1, le=1024, description="SSM state size (S4D N, Mamba d_state)")
    expand: int = Field(2, ge=1, le=16, description="Mamba expansion factor")
    dropout: float = Field(0.1, ge=0, lt=1)


class RecurrentNet(nn.Module):
    def __init__(self, n_units: int, p: RecurrentParams, n_out: int, mean, std):
        super().__init__()
        self.register_buffer("in_mean", torch.as_tensor(mean))
        self.register_buffer("in_std", torch.as_tensor(std))
        self.embed = nn.Sequential(nn.Linear(n_units, p.embed_dim), nn.GELU(), nn.Dropout(p.dropout))
        self.backbone = make_backbone(p.backbone, p.embed_dim, p.hidden, p.layers, p.d_state, p.expand, p.dropout)
        self.head = nn.Sequential(nn.Dropout(p.dropout), nn.Linear(self.backbone.out_dim, n_out))

    def embed_counts(self, counts: torch.Tensor) -> torch.Tensor:
        return self.embed((counts - self.in_mean) / self.in_std)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(self.embed_counts(counts)))


class RecurrentDecoder(BinnedMixin, TorchDecoder):
    """Recurrent network on binned counts (backbone chosen by ``backbone``)."""

    Params = RecurrentParams
    supported_kinds = frozenset({TaskKind.regression, TaskKind.classification})

    def build(self, sessions: Sequence[TaskData]) -> nn.Module:
        mean, std = self.setup_inputs(sessions)
        return RecurrentNet(self.n_inputs, self.params, self.spec.dim, mean, std)

    def encode(self, seg: Segment) -> dict[str, np.ndarray]:
        counts = self.segment_inputs(seg)
        return {"counts": counts, "query_bin": query_bins(seg.start, seg.query_times, self.bin_s, counts.shape[0])}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.module(batch["counts"])
        idx = batch["query_bin"].unsqueeze(-1).expand(-1, -1, out.shape[-1])
        return torch.gather(out, 1, idx)

    def reset(self, recording) -> None:
        self._stepper = self.module.backbone.stepper()
        self._state = self._stepper.init_state(1)

    @torch.inference_mode()
    def step(self, chunk: SpikeChunk) -> np.ndarray:
        counts = self.chunk_inputs(chunk)
        x = self.module.embed_counts(torch.from_numpy(counts).to(self.device))
        outs = []
        for b in range(x.shape[0]):  # bins of this chunk (one at the default 50 ms)
            y, self._state = self._stepper.step(x[b : b + 1], self._state)
            outs.append(y)
        out = self.module.head(torch.cat(outs))
        idx = torch.from_numpy(query_bins(chunk.start, chunk.query_times, self.bin_s, counts.shape[0]))
        return self.denormalise(out[idx].cpu().numpy())



# RecurrentParams' defaults are the GRU baseline; S4D and Mamba are sized like it.
PRESETS = {
    "gru": Preset({}, "GRU on binned counts (embed 64, hidden 256)."),
    "s4d": Preset({"backbone": "s4d", "hidden": 192, "layers": 2},
                  "S4D on binned counts (2 blocks of d_model 192), sized like the GRU baseline."),
    "mamba": Preset({"backbone": "mamba", "hidden": 128, "layers": 2, "d_state": 16},
                    "Mamba on binned counts (2 blocks of d_model 128), sized like the GRU baseline."),
}

models.register_presets(PRESETS)(RecurrentDecoder)
