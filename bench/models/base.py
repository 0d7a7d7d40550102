"""The one interface every decoder follows.

- Built from validated suite parameters (``Params``, a pydantic model) plus a seed and a device.
- ``fit(sessions, train)``: learn on the train segments, select the model on the valid segments.
- ``predict(segments)``: offline outputs at each segment's query times.
- Streaming: ``reset(recording)``, then ``step(chunk)`` on consecutive chunks of spikes (50 ms by
  default) carrying state; the outputs for the queries inside each chunk must equal ``predict``.
  Latency is measured on ``step`` at batch 1.

A model declares the task kinds it supports and the inputs it reads (``inputs``: spike events,
binned counts, feature streams; ``read_streams`` names the recording streams a configured model
reads); the suite validator refuses other pairings, naming the missing stream.
Models know nothing of suites; the runner hands them ``TaskData``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar, Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from bench.data.recording import SPIKES, Recording
from bench.data.views import feature_between
from bench.errors import DataError
from bench.models.windows import chunk_edges, chunk_of
from bench.tasks.base import Segment, TaskData, TaskKind


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a NaN width or period is never meant


class InputKind(str, Enum):
    """How a decoder reads a recording stream."""

    spike_events = "spike_events"  # one token per spike (recorded, or derived from a counts stream)
    binned_counts = "binned_counts"  # spikes counted on the model's bin grid
    features = "features"  # a feature stream re-binned to the model's grid (counts summed, values averaged)


@dataclass
class SpikeChunk:
    """The spikes and feature bins of [start, end) and the query times inside it, as a streaming
    step sees them. ``features`` maps each feature stream of the recording whose bin divides the
    chunk to its bins in the chunk at the stream's own width, (n_bins, n_channels) float32
    (``bench.data.views.feature_between``); a model reading a stream checks that at set-up."""

    start: float
    end: float
    spike_times: np.ndarray  # absolute seconds, sorted
    spike_units: np.ndarray  # indices into the recording's units
    query_times: np.ndarray  # absolute seconds, start <= t < end
    features: dict[str, np.ndarray] = field(default_factory=dict)


def chunk_features(rec: Recording, start: float, end: float) -> dict[str, np.ndarray]:
    """The bins of [start, end) of every feature stream whose bin divides the chunk."""
    out = {}
    for name, stream in rec.features.items():
        ratio = (end - start) / stream.bin_s
        if abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1:
            out[name] = feature_between(rec, name, start, end, stream.bin_s)
    return out


def chunk_segment(segment: Segment, chunk_s: float) -> list[SpikeChunk]:
    """Cut a segment into consecutive streaming chunks (the segment lies on the chunk grid)."""
    rec = segment.recording
    edges = chunk_edges(segment.start, segment.end, chunk_s)
    n = edges.size - 1
    # queries go to chunks by the same grid rule the offline paths use
    q_chunk = chunk_of(segment.query_times, segment.start, chunk_s, n)
    chunks = []
    for i in range(n):
        s, e = float(edges[i]), float(edges[i + 1])
        t, u = rec.spikes_between(s, e)
        chunks.append(SpikeChunk(s, e, t, u, segment.query_times[q_chunk == i], chunk_features(rec, s, e)))
    return chunks


class Decoder:
    """Base class for all decoders. Subclasses set Params and supported_kinds."""

    Params: ClassVar[type[ModelParams]] = ModelParams
    supported_kinds: ClassVar[frozenset[TaskKind]] = frozenset()
    # the ways this model can read a recording (spike-token models: spike events only)
    inputs: ClassVar[frozenset[InputKind]] = frozenset({InputKind.spike_events})
    # True when one model can be trained on several sessions at once (spike-token models).
    multi_session: ClassVar[bool] = False
    # False when offline predict deliberately differs from streaming (e.g. POYO's paper-style
    # averaging of overlapping windows); the runner then skips the equality check.
    streams_like_predict: bool = True
    # parameter count the source paper reports for this configuration (None: no published size)
    paper_parameters: ClassVar[int | None] = None
    registry_name: ClassVar[str] = ""
    # bumped whenever a change alters its outputs: records made before become stale
    version: ClassVar[int] = 1
    # a version per task kind (e.g. {"classification": 2}) where a change alters one kind only
    kind_versions: ClassVar[dict[str, int]] = {}

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

    def read_streams(self) -> dict[str, InputKind]:
        """The recording streams this configured model reads ("spikes" or feature stream names),
        each with how it reads it (one of ``inputs``)."""
        return {SPIKES: InputKind.spike_events}

    def missing_inputs(self, recording: Recording) -> list[str]:
        """The streams this configured model reads that ``recording`` lacks (see ``Recording.streams``)."""
        return [name for name in self.read_streams() if name not in recording.streams]

    def check_inputs(self, recordings: Iterable[Recording]) -> None:
        """DataError naming the model, the recording and the streams it lacks, if any does."""
        for rec in recordings:
            missing = self.missing_inputs(rec)
            if missing:
                raise DataError(
                    f"Model '{self.registry_name}' reads {', '.join(missing)}, which recording "
                    f"{rec.path or rec.recording_id} lacks (its streams: {', '.join(rec.streams) or 'none'})."
                )

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
