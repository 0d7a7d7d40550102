"""GRU on binned counts: the recurrent baseline, streamed by carrying the hidden state."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.models.base import SpikeChunk
from bench.models.binned import (
    BinnedParams,
    check_bin_divides_chunk,
    chunk_counts,
    query_bins,
    segment_counts,
    unit_stats,
)
from bench.models.torch_decoder import TorchDecoder
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind


class GRUParams(BinnedParams):
    embed_dim: int = Field(64, ge=1, description="linear projection of the counts before the GRU")
    hidden: int = Field(256, ge=1)
    layers: int = Field(1, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)


class GRUNet(nn.Module):
    def __init__(self, n_units: int, p: GRUParams, n_out: int, mean, std):
        super().__init__()
        self.register_buffer("in_mean", torch.as_tensor(mean))
        self.register_buffer("in_std", torch.as_tensor(std))
        self.embed = nn.Sequential(nn.Linear(n_units, p.embed_dim), nn.GELU(), nn.Dropout(p.dropout))
        self.rnn = nn.GRU(p.embed_dim, p.hidden, num_layers=p.layers, batch_first=True,
                          dropout=p.dropout if p.layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(p.dropout), nn.Linear(p.hidden, n_out))

    def forward(self, counts: torch.Tensor, h: torch.Tensor | None = None):
        y, h = self.rnn(self.embed((counts - self.in_mean) / self.in_std), h)
        return self.head(y), h


@models.register("gru")
class GRUDecoder(TorchDecoder):
    Params = GRUParams
    supported_kinds = frozenset({TaskKind.regression, TaskKind.classification})

    @property
    def bin_s(self) -> float:
        return self.params.bin_ms / 1000.0

    def check_chunk(self, chunk_s: float) -> None:
        check_bin_divides_chunk(self.registry_name, self.params.bin_ms, chunk_s)

    def build(self, sessions: Sequence[TaskData]) -> nn.Module:
        self.check_chunk(sessions[0].chunk_s)
        self.n_units = sessions[0].recording.n_units
        mean, std = unit_stats(sessions, self.bin_s)
        return GRUNet(self.n_units, self.params, self.spec.dim, mean, std)

    def encode(self, seg: Segment) -> dict[str, np.ndarray]:
        counts = segment_counts(seg, self.bin_s)
        return {"counts": counts, "query_bin": query_bins(seg.start, seg.query_times, self.bin_s, counts.shape[0])}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out, _ = self.module(batch["counts"])
        idx = batch["query_bin"].unsqueeze(-1).expand(-1, -1, out.shape[-1])
        return torch.gather(out, 1, idx)

    def reset(self, recording) -> None:
        self._h = None

    @torch.inference_mode()
    def step(self, chunk: SpikeChunk) -> np.ndarray:
        counts = torch.from_numpy(chunk_counts(chunk, self.n_units, self.bin_s)).to(self.device)
        out, self._h = self.module(counts.unsqueeze(0), self._h)
        idx = torch.from_numpy(query_bins(chunk.start, chunk.query_times, self.bin_s, counts.shape[0]))
        return self.denormalise(out[0, idx].cpu().numpy())
