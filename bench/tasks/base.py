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
from bench.errors import DataError


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


def check_task_data(data: TaskData, task: str) -> None:
    """DataError unless the train and test splits hold segments, every target a segment trains on or
    scores is finite, and the targets vary: (regression) the scored test targets in every output
    dimension, (classification) the training labels, which must also be class indices of the task.

    Without it a NaN target ends as a NaN loss, an empty test split as a traceback in the metric,
    and a constant target as an R^2 of -inf or nan stored as a score. Tasks call it at the end of
    ``prepare``; the suite runner calls it again on whatever any task prepared
    (``bench.suite.execute.DatasetCache``).
    """
    rec = data.recording
    where = f"Recording {rec.path or rec.recording_id}"
    for split in ("train", "test"):
        if not data.segments(split):
            iv = rec.splits.get(split)
            held = f"{len(iv)} intervals, {iv.duration:g} s" if iv is not None else "missing"
            raise DataError(
                f"{where}: its {split} split ({split}_domain: {held}) gives task '{task}' nothing to "
                f"{'train on' if split == 'train' else 'score'}; expected a non-empty {split}_domain, inside the "
                "domain, with intervals longer than the chunk and holding samples of the task's targets."
            )
    if data.spec.kind == TaskKind.classification:
        _check_classes(data, where, task)
    if data.spec.kind != TaskKind.regression:
        return
    for split, segments in data.splits.items():
        for seg in segments:
            used = (seg.weights > 0) | seg.eval_mask
            bad = used & ~np.isfinite(seg.targets).all(axis=1)
            if bad.any():
                t = float(seg.query_times[np.flatnonzero(bad)[0]])
                raise DataError(
                    f"{where}: task '{task}' targets ({', '.join(data.spec.names) or 'behaviour'}) are not finite at "
                    f"{int(bad.sum())} samples of the {split} split it trains on or scores (first at {t:g} s); "
                    "fill the gaps, or mark them as outlier segments (weight 0, not scored)."
                )
    scored = [seg.targets[seg.eval_mask] for seg in data.segments("test")]
    y = np.concatenate(scored) if scored else np.zeros((0, data.spec.dim))
    if y.shape[0] < 2:
        raise DataError(f"{where}: the test split holds {y.shape[0]} scored samples for task '{task}'; need at least 2.")
    flat = np.flatnonzero(np.ptp(y, axis=0) == 0)
    if flat.size:
        d = int(flat[0])
        label = data.spec.names[d] if d < len(data.spec.names) else str(d)
        raise DataError(
            f"{where}: task '{task}' target {label} is constant ({float(y[0, d]):g}) over all {y.shape[0]} scored "
            "test samples; R^2 is undefined on a constant target. Check the behaviour field of the file."
        )


def _check_classes(data: TaskData, where: str, task: str) -> None:
    """Class labels are indices 0..dim-1, and the training split holds at least two classes."""
    for split, segments in data.splits.items():
        for seg in segments:
            labels = np.asarray(seg.targets)
            bad = ~np.isfinite(labels.astype(float)) | (labels < 0) | (labels >= data.spec.dim) | (labels % 1 != 0)
            if bad.any():
                raise DataError(
                    f"{where}: task '{task}' label {labels[bad].flat[0].item()!r} in the {split} split (trial at "
                    f"{seg.start:g} s) is not a class index 0-{data.spec.dim - 1}; check the trials' target ids."
                )
    seen = np.unique(np.concatenate([np.ravel(seg.targets) for seg in data.segments("train")]))
    if seen.size < 2:
        only = int(seen[0])
        name = data.spec.names[only] if only < len(data.spec.names) else str(only)
        raise DataError(
            f"{where}: every training trial of task '{task}' has the same class ({name}); a classifier has "
            "nothing to learn. Check the trials' target ids and the train_domain."
        )


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
