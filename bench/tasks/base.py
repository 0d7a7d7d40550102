"""Tasks: what a decoder must output for a recording, and how that output is scored.

A task turns a recording into ``TaskData``: for each split a list of ``Segment``s, each a span of
the recording (on the chunk grid) with query times at which the decoder must produce an output,
the targets at those times, training loss weights and a mask of the queries that are scored.

Three kinds cover the field:
- regression: a vector per query (reaching velocity, R^2);
- classification: class logits at one query per segment (reach direction, handwriting, accuracy);
- sequence: per-chunk token logits over a segment, scored against a label sequence with CTC
  (speech phonemes, phoneme error rate). ``Segment.targets`` then holds the label sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from bench.data.recording import Recording


class TaskKind(str, Enum):
    regression = "regression"
    classification = "classification"
    sequence = "sequence"


@dataclass(frozen=True)
class OutputSpec:
    """What the readout must produce: ``dim`` outputs for regression, classes otherwise."""

    kind: TaskKind
    dim: int
    names: tuple[str, ...] = ()
    blank: int | None = None  # CTC blank index for sequence tasks


@dataclass
class Segment:
    recording: Recording
    start: float
    end: float
    query_times: np.ndarray  # (n_q,) seconds, start <= t < end
    targets: np.ndarray  # regression (n_q, dim) float32; classification (n_q,) int; sequence (L,) int
    weights: np.ndarray  # (n_q,) training loss weight
    eval_mask: np.ndarray  # (n_q,) bool: which queries the metric counts

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class TaskData:
    """A task instantiated on one recording."""

    recording: Recording
    spec: OutputSpec
    chunk_s: float
    splits: dict[str, list[Segment]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # chunks that cut imported bins would split their spikes at made-up positions
        self.recording.check_bin(self.chunk_s, "the suite's chunk (chunk_ms)")

    def segments(self, split: str) -> list[Segment]:
        return self.splits.get(split, [])


class TaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Task:
    """Base class. Subclasses define ``kind``, ``Params``, ``prepare`` and ``score``."""

    kind: ClassVar[TaskKind]
    Params: ClassVar[type[TaskParams]] = TaskParams
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    registry_name: ClassVar[str] = ""
    # bumped whenever a change alters its segments, targets or scores: records made before become stale
    version: ClassVar[int] = 1

    def __init__(self, params: TaskParams | None = None):
        self.params = params if params is not None else self.Params()

    def check_recording(self, rec: Recording) -> None:
        """Raise DataError if the recording lacks what this task needs."""

    def prepare(self, rec: Recording, chunk_s: float) -> TaskData:
        raise NotImplementedError

    def score(self, segments: list[Segment], predictions: list[np.ndarray]) -> dict:
        """Metrics for one recording's segments; must contain ``primary_metric``."""
        raise NotImplementedError
