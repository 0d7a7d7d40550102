"""Helpers for decoders on binned spike counts (Wiener filter, MLP, GRU, S4D, Mamba baselines).

Bins lie on the recording's grid and must divide the streaming chunk, so a chunk holds whole
bins. The output for a query time is the output of the bin that holds it, which is what a
streaming decoder has computed once that chunk has arrived.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from pydantic import Field

from bench.data.views import bin_spikes, counts_between, grid_index, lagged
from bench.errors import SuiteError
from bench.models.base import ModelParams, SpikeChunk
from bench.tasks.base import Segment, TaskData


class BinnedParams(ModelParams):
    bin_ms: float = Field(50.0, gt=0, description="bin width in ms; must divide the chunk length")


def check_bin_divides_chunk(model: str, bin_ms: float, chunk_s: float) -> None:
    ratio = chunk_s * 1000.0 / bin_ms
    if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
        raise SuiteError(
            f"Model '{model}': bin_ms={bin_ms:g} does not divide the streaming chunk of "
            f"{chunk_s * 1000:g} ms; choose a bin width such as {chunk_s * 1000:g}, "
            f"{chunk_s * 500:g} or 10 ms."
        )


class BinnedMixin:
    """For decoders on binned counts: the bin width, its check against the chunk, input stats."""

    params: BinnedParams
    registry_name: str

    @property
    def bin_s(self) -> float:
        return self.params.bin_ms / 1000.0

    def check_chunk(self, chunk_s: float) -> None:
        check_bin_divides_chunk(self.registry_name, self.params.bin_ms, chunk_s)

    def setup_inputs(self, sessions: Sequence[TaskData]) -> tuple[np.ndarray, np.ndarray]:
        """Check the chunk, remember the population size; per-unit mean / SD of train counts."""
        self.check_chunk(sessions[0].chunk_s)
        self.n_units = sessions[0].recording.n_units
        return unit_stats(sessions, self.bin_s)


def segment_counts(seg: Segment, bin_s: float) -> np.ndarray:
    return counts_between(seg.recording, seg.start, seg.end, bin_s)


def query_bins(start: float, query_times: np.ndarray, bin_s: float, n_bins: int | None = None) -> np.ndarray:
    """Bin holding each query; clipped to n_bins - 1 against float round-off at the last edge."""
    idx = grid_index(query_times, start, bin_s).astype(np.int64)
    return idx if n_bins is None else np.clip(idx, 0, n_bins - 1)


def unit_stats(sessions: Sequence[TaskData], bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit mean and SD of train-split counts, for input standardisation."""
    counts = np.concatenate([segment_counts(s, bin_s) for d in sessions for s in d.segments("train")])
    return counts.mean(axis=0).astype(np.float32), (counts.std(axis=0) + 1e-3).astype(np.float32)


def chunk_counts(chunk: SpikeChunk, n_units: int, bin_s: float) -> np.ndarray:
    n_bins = int(round((chunk.end - chunk.start) / bin_s))
    return bin_spikes(chunk.spike_times, chunk.spike_units, n_units, chunk.start, n_bins, bin_s)


class LagBuffer:
    """Carries the last n_lags bins across streaming chunks for lagged-feature decoders."""

    def __init__(self, n_units: int, n_lags: int):
        self.n_units, self.n_lags = n_units, n_lags
        self.reset()

    def reset(self) -> None:
        self.history = np.zeros((self.n_lags, self.n_units), np.float32)

    def features(self, counts: np.ndarray) -> np.ndarray:
        feats = lagged(counts, self.n_lags, self.history)
        if self.n_lags:
            self.history = np.concatenate([self.history, counts])[-self.n_lags :]
        return feats


def n_bins_per_chunk(chunk_s: float, bin_s: float) -> int:
    return int(math.floor(chunk_s / bin_s + 1e-9))
