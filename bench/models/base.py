"""The one interface every decoder follows.

- Built from validated suite parameters (``Params``, a pydantic model) plus a seed and a device.
- ``fit(sessions, train)``: learn on the train segments, select the model on the valid segments.
- ``predict(segments)``: offline outputs at each segment's query times.
- Streaming: ``reset(recording)``, then ``step(chunk)`` on consecutive chunks of spikes (50 ms by
  default) carrying state; the outputs for the queries inside each chunk must equal ``predict``.
  Latency is measured on ``step`` at batch 1.

A model declares the task kinds it supports; the suite validator refuses other pairings.
Models know nothing of suites; the runner hands them ``TaskData``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from bench.data.recording import Recording
from bench.data.views import grid_index
from bench.tasks.base import Segment, TaskData, TaskKind


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class SpikeChunk:
    """The spikes of [start, end) and the query times inside it, as a streaming step sees them."""

    start: float
    end: float
    spike_times: np.ndarray  # absolute seconds, sorted
    spike_units: np.ndarray  # indices into the recording's units
    query_times: np.ndarray  # absolute seconds, start <= t < end


def chunk_segment(segment: Segment, chunk_s: float) -> list[SpikeChunk]:
    """Cut a segment into consecutive streaming chunks (the segment lies on the chunk grid)."""
    rec = segment.recording
    n = int(round(segment.duration / chunk_s))
    # queries go to chunks by the same grid rule the offline path uses for bins
    q_chunk = np.clip(grid_index(segment.query_times, segment.start, chunk_s), 0, n - 1)
    chunks = []
    for i in range(n):
        s = segment.start + i * chunk_s
        e = segment.start + (i + 1) * chunk_s if i < n - 1 else segment.end
        t, u = rec.spikes_between(s, e)
        chunks.append(SpikeChunk(s, e, t, u, segment.query_times[q_chunk == i]))
    return chunks


class Decoder:
    """Base class for all decoders. Subclasses set Params and supported_kinds."""

    Params: ClassVar[type[ModelParams]] = ModelParams
    supported_kinds: ClassVar[frozenset[TaskKind]] = frozenset()
    # True when one model can be trained on several sessions at once (spike-token models).
    multi_session: ClassVar[bool] = False
    # False when offline predict deliberately differs from streaming (e.g. POYO's paper-style
    # averaging of overlapping windows); the runner then skips the equality check.
    streams_like_predict: bool = True
    # parameter count the source paper reports for this configuration (None: no published size)
    paper_parameters: ClassVar[int | None] = None
    registry_name: ClassVar[str] = ""

    def __init__(self, params: ModelParams | None = None, seed: int = 0, device: str = "cpu"):
        self.params = params if params is not None else self.Params()
        self.seed = seed
        self.device = device

    def to(self, device: str) -> bool:
        """Move the model to ``device`` for inference; False if it cannot run there."""
        if device != "cpu":
            return False
        self.device = device
        return True

    def check_chunk(self, chunk_s: float) -> None:
        """Raise SuiteError if the model cannot stream at this chunk length."""

    # -- training / offline
    def fit(self, sessions: Sequence[TaskData], train: "TrainConfig", progress: bool = True) -> dict:
        """Train on the sessions' train split, select on valid; returns a small report dict."""
        raise NotImplementedError

    def initialise(self, sessions: Sequence[TaskData]) -> None:
        """Set the model up for these sessions without training it (latency-only runs of models
        that need a GPU to train). Optional: models without it cannot be marked ``needs_gpu``."""
        raise NotImplementedError

    def predict(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        """Outputs at each segment's query times: (n_q, dim) arrays, one per segment."""
        raise NotImplementedError

    # -- streaming
    def reset(self, recording: Recording) -> None:
        raise NotImplementedError

    def step(self, chunk: SpikeChunk) -> np.ndarray:
        """Outputs (n_q, dim) for chunk.query_times, updating the carried state."""
        raise NotImplementedError

    def stream(self, segment: Segment, chunk_s: float) -> np.ndarray:
        """Run reset + step over a whole segment; used to check streaming == offline."""
        self.reset(segment.recording)
        outs = [self.step(c) for c in chunk_segment(segment, chunk_s)]
        return np.concatenate(outs, axis=0)

    def n_parameters(self) -> int:
        """Trainable parameter count (excluding per-unit / per-session embedding tables)."""
        raise NotImplementedError


from bench.training.config import TrainConfig  # noqa: E402  (type used in signatures)
