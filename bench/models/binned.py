"""Helpers for decoders on binned inputs (linear, feed-forward and recurrent baselines).

Bins lie on the recording's grid and must divide the streaming chunk, so a chunk holds whole
bins. The output for a query time is the output of the bin that holds it, which is what a
streaming decoder has computed once that chunk has arrived.

What is binned is chosen by the ``input_streams`` parameter: ``spikes`` (the spike events counted
per unit; on a features-only recording, the events derived from its counts stream) and / or
feature streams re-binned to the model's bins (a threshold-crossing counts stream summed, so it is
read as counts; a continuous stream such as spike-band power averaged), side by side along the
channel axis in the order given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from pydantic import Field, field_validator

from bench.data.recording import SPIKES, Recording
from bench.data.views import (
    bin_spikes,
    bins_per_bin,
    counts_between,
    feature_between,
    feature_stream,
    grid_index,
    lagged,
    rebin,
)
from bench.errors import DataError, SuiteError
from bench.models.base import InputKind, ModelParams, SpikeChunk
from bench.tasks.base import Segment, TaskData


class BinnedParams(ModelParams):
    bin_ms: float = Field(50.0, ge=0.1, le=60_000, description="bin width in ms; must divide the chunk length")
    input_streams: list[str] = Field(
        default_factory=lambda: [SPIKES], min_length=1, max_length=64,
        description="what is binned, side by side: 'spikes' and / or feature stream names (counts "
        "streams summed into the bins, continuous ones averaged; their bin must divide bin_ms)",
    )

    @field_validator("input_streams")
    @classmethod
    def _distinct(cls, streams: list[str]) -> list[str]:
        if len(set(streams)) != len(streams):
            raise ValueError(f"input_streams names a stream twice: {streams}")
        return streams


def check_bin_divides_chunk(model: str, bin_ms: float, chunk_s: float) -> None:
    ratio = chunk_s * 1000.0 / bin_ms
    if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
        raise SuiteError(
            f"Model '{model}': bin_ms={bin_ms:g} does not divide the streaming chunk of "
            f"{chunk_s * 1000:g} ms; choose a bin width such as {chunk_s * 1000:g}, "
            f"{chunk_s * 500:g} or 10 ms."
        )


@dataclass(frozen=True)
class StreamRead:
    """One input stream of a binned decoder: its channels and how its bins become model bins."""

    name: str
    width: int
    kind: str  # "spikes", "counts" or "continuous"
    factor: int = 1  # stream bins per model bin (feature streams)


def plan_reads(rec: Recording, streams: Sequence[str], bin_s: float) -> list[StreamRead]:
    """The streams as read from ``rec``; DataError naming the recording for a missing stream or a
    stream whose bin does not divide ``bin_s``."""
    reads = []
    for name in streams:
        if name == SPIKES:
            if not rec.n_units:
                raise DataError(
                    f"Recording {rec.path or rec.recording_id} has no spike events (no spikes, and no counts "
                    f"stream to derive them from); its streams: {', '.join(rec.streams)}. Read one of those instead."
                )
            reads.append(StreamRead(SPIKES, rec.n_units, SPIKES))
        else:
            stream = feature_stream(rec, name)
            reads.append(StreamRead(name, stream.n_channels, stream.kind, bins_per_bin(stream, bin_s)))
    return reads


def segment_inputs(seg: Segment, reads: Sequence[StreamRead], bin_s: float) -> np.ndarray:
    """The segment's model inputs (n_bins, channels): the streams' bins side by side."""
    parts = [
        counts_between(seg.recording, seg.start, seg.end, bin_s) if r.name == SPIKES
        else feature_between(seg.recording, r.name, seg.start, seg.end, bin_s)
        for r in reads
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def chunk_inputs(chunk: SpikeChunk, reads: Sequence[StreamRead], bin_s: float) -> np.ndarray:
    """The same for a streaming chunk, from its spikes and its feature bins."""
    parts = [
        chunk_counts(chunk, r.width, bin_s) if r.name == SPIKES else rebin(chunk.features[r.name], r.factor, r.kind)
        for r in reads
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


class BinnedMixin:
    """For decoders on binned inputs: the bin width, its check against the chunk, the streams read
    (``reads``, ``n_inputs`` channels in all) and input statistics."""

    inputs = frozenset({InputKind.binned_counts, InputKind.features})
    params: BinnedParams
    registry_name: str
    reads: list[StreamRead]
    n_inputs: int

    @property
    def bin_s(self) -> float:
        return self.params.bin_ms / 1000.0

    def check_chunk(self, chunk_s: float) -> None:
        check_bin_divides_chunk(self.registry_name, self.params.bin_ms, chunk_s)

    def read_streams(self) -> dict[str, InputKind]:
        return {n: InputKind.binned_counts if n == SPIKES else InputKind.features for n in self.params.input_streams}

    def plan_inputs(self, data: TaskData) -> None:
        """Check the chunk and the session's streams; remember how to read them."""
        self.check_chunk(data.chunk_s)
        self.reads = plan_reads(data.recording, self.params.input_streams, self.bin_s)
        self.n_inputs = sum(r.width for r in self.reads)

    def setup_inputs(self, sessions: Sequence[TaskData]) -> tuple[np.ndarray, np.ndarray]:
        """``plan_inputs``, then the per-channel mean / SD of the train inputs, for standardisation."""
        self.plan_inputs(sessions[0])
        x = np.concatenate([self.segment_inputs(s) for d in sessions for s in d.segments("train")])
        return x.mean(axis=0).astype(np.float32), (x.std(axis=0) + 1e-3).astype(np.float32)

    def segment_inputs(self, seg: Segment) -> np.ndarray:
        return segment_inputs(seg, self.reads, self.bin_s)

    def chunk_inputs(self, chunk: SpikeChunk) -> np.ndarray:
        return chunk_inputs(chunk, self.reads, self.bin_s)


def query_bins(start: float, query_times: np.ndarray, bin_s: float, n_bins: int | None = None) -> np.ndarray:
    """Bin holding each query; clipped to n_bins - 1 against float round-off at the last edge."""
    idx = grid_index(query_times, start, bin_s).astype(np.int64)
    return idx if n_bins is None else np.clip(idx, 0, n_bins - 1)


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
