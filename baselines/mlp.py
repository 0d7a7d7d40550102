"""MLP on lagged binned counts (or feature streams): the feed-forward nonlinear baseline."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.data.views import lagged
from bench.models.base import SpikeChunk
from bench.models.binned import BinnedMixin, BinnedParams, LagBuffer, query_bins
from bench.models.torch_decoder import TorchDecoder
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind


class MLPParams(BinnedParams):
    n_lags: int = Field(10, ge=0, le=100)
    hidden: int = Field(256, ge=1, le=8192)
    layers: int = Field(2, ge=1, le=32)
    dropout: float = Field(0.2, ge=0, lt=1)


class MLPNet(nn.Module):
    def __init__(self, n_inputs: int, hidden: int, layers: int, dropout: float, n_out: int, mean, std):
        super().__init__()
        self.register_buffer("in_mean", torch.as_tensor(mean))
        self.register_buffer("in_std", torch.as_tensor(std))
        blocks, width = [], n_inputs
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, n_out)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(self.body((feats - self.in_mean) / self.in_std))


@models.register("mlp")
class MLPDecoder(BinnedMixin, TorchDecoder):
    Params = MLPParams
    supported_kinds = frozenset({TaskKind.regression, TaskKind.classification})
    # classification 2: the network runs on the query bins only (one per trial, not all 30)
    kind_versions = {"classification": 2}

    def build(self, sessions: Sequence[TaskData]) -> nn.Module:
        mean, std = self.setup_inputs(sessions)
        reps = self.params.n_lags + 1
        p = self.params
        return MLPNet(self.n_inputs * reps, p.hidden, p.layers, p.dropout, self.spec.dim, np.tile(mean, reps), np.tile(std, reps))

    def encode(self, seg: Segment) -> dict[str, np.ndarray]:
        feats = lagged(self.segment_inputs(seg), self.params.n_lags)
        return {"feats": feats, "query_bin": query_bins(seg.start, seg.query_times, self.bin_s, feats.shape[0])}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        feats, query_bin = batch["feats"], batch["query_bin"]
        if query_bin.shape[1] < feats.shape[1]:  # few queries (a trial's readout): run only those bins
            picked = torch.gather(feats, 1, query_bin.unsqueeze(-1).expand(-1, -1, feats.shape[-1]))
            return self.module(picked)
        out = self.module(feats)  # per bin, then picked per query (queries outnumber bins)
        return torch.gather(out, 1, query_bin.unsqueeze(-1).expand(-1, -1, out.shape[-1]))

    def reset(self, recording) -> None:
        self._lags = LagBuffer(self.n_inputs, self.params.n_lags)

    @torch.inference_mode()
    def step(self, chunk: SpikeChunk) -> np.ndarray:
        counts = self.chunk_inputs(chunk)
        feats = self._lags.features(counts)
        idx = query_bins(chunk.start, chunk.query_times, self.bin_s, counts.shape[0])
        out = self.module(torch.from_numpy(feats[idx]).to(self.device))
        return self.denormalise(out.cpu().numpy())
