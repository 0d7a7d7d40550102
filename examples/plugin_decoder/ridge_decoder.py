"""Ridge regression on binned spike counts: an example decoder plugin for neural-decoder-bench.

The outputs at a query are a linear map of the counts of the bin holding it and of the
``n_lags`` bins before it. Streaming carries those last bins from chunk to chunk.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from bench.data.views import bin_spikes, counts_between, grid_index, lagged
from bench.models.base import Decoder, InputKind, ModelParams, SpikeChunk
from bench.tasks.base import TaskKind


class RidgeParams(ModelParams):  # ModelParams refuses unknown fields, so suite typos are errors
    bin_ms: float = Field(50.0, gt=0, description="bin width (ms); must divide the streaming chunk")
    n_lags: int = Field(4, ge=0, description="previous bins stacked with the current one")
    alpha: float = Field(10.0, gt=0, description="ridge penalty")


class RidgeDecoder(Decoder):
    """Ridge regression on the counts of the current and the n_lags previous bins."""

    Params = RidgeParams
    supported_kinds = frozenset({TaskKind.regression})
    inputs = frozenset({InputKind.binned_counts})

    def read_streams(self) -> dict[str, InputKind]:
        return {"spikes": InputKind.binned_counts}

    def features(self, seg) -> np.ndarray:
        """Lagged counts at each query of a segment (the segment starts from zero history)."""
        bin_s = self.params.bin_ms / 1000
        x = lagged(counts_between(seg.recording, seg.start, seg.end, bin_s), self.params.n_lags)
        return x[np.clip(grid_index(seg.query_times, seg.start, bin_s), 0, len(x) - 1)]

    def fit(self, sessions, train, progress=True) -> dict:
        segs = [s for d in sessions for s in d.segments("train")]
        x = np.concatenate([self.features(s) for s in segs])
        y = np.concatenate([s.targets for s in segs])
        x1 = np.hstack([x, np.ones((len(x), 1))])
        penalty = self.params.alpha * np.diag([1.0] * x.shape[1] + [0.0])  # intercept not penalised
        self.weights = np.linalg.solve(x1.T @ x1 + penalty, x1.T @ y)
        self.n_units = sessions[0].recording.n_units
        return {"n_samples": len(x)}

    def predict(self, segments) -> list[np.ndarray]:
        return [self.features(s) @ self.weights[:-1] + self.weights[-1] for s in segments]

    def reset(self, recording) -> None:
        self.history = np.zeros((self.params.n_lags, self.n_units), np.float32)

    def step(self, chunk: SpikeChunk) -> np.ndarray:
        bin_s = self.params.bin_ms / 1000
        n_bins = int(round((chunk.end - chunk.start) / bin_s))
        counts = bin_spikes(chunk.spike_times, chunk.spike_units, self.n_units, chunk.start, n_bins, bin_s)
        x = lagged(counts, self.params.n_lags, self.history)
        self.history = np.concatenate([self.history, counts])[len(counts):]
        idx = np.clip(grid_index(chunk.query_times, chunk.start, bin_s), 0, n_bins - 1)
        return x[idx] @ self.weights[:-1] + self.weights[-1]

    def n_parameters(self) -> int:
        return int(self.weights.size)
