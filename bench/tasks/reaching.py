"""Reaching velocity decoding (NHP centre-out and random-target), scored by R^2.

Conventions follow POSSM / torch_brain: each split's intervals are decoded from a fresh decoder
state; the metric is R^2 per session on the evaluation intervals (CO = reach phase of successful
trials, RT = everything), uniform over output dimensions; the suite then reports the mean and SD
over sessions. Training loss weights follow the public POSSM config (reach 5, hold 0.1,
return / random 1, outlier segments 0).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from bench.data.intervals import Intervals
from bench.data.recording import Recording
from bench.data.views import snap_inward
from bench.errors import DataError
from bench.metrics.regression import r2_scores
from bench.registry import tasks
from bench.tasks.base import OutputSpec, Segment, Task, TaskData, TaskKind, TaskParams, check_task_data

DEFAULT_PHASE_WEIGHTS = {
    "reach_period": 5.0,
    "hold_period": 0.1,
    "return_period": 1.0,
    "random_period": 1.0,
}


class ReachingParams(TaskParams):
    eval_phase: Literal["auto", "reach", "all"] = Field(
        "auto", description="auto: reach phase for centre-out recordings, everything for random-target"
    )
    phase_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_PHASE_WEIGHTS))
    outlier_weight: float = 0.0
    min_segment_s: float = Field(0.2, gt=0, description="drop split intervals shorter than this")


def split_segments_spans(rec: Recording, split: str, chunk_s: float, min_len: float) -> list[tuple[float, float]]:
    """The split's intervals, shrunk onto the chunk grid, short leftovers dropped."""
    origin = float(rec.domain.start[0])
    spans = []
    for s, e in rec.split(split).merged():
        s2, e2 = snap_inward(s, e, origin, chunk_s)
        if e2 - s2 >= min_len - 1e-9:
            spans.append((s2, e2))
    return spans


def phase_weights(rec: Recording, times: np.ndarray, weights: dict[str, float], outlier_weight: float) -> np.ndarray:
    """Per-sample loss weight from the movement phase holding each time (1 where none)."""
    w = np.ones(times.shape, np.float32)
    for phase, value in weights.items():
        if phase in rec.phases:
            w[rec.phases[phase].contains(times)] = value
    w[rec.outliers.contains(times)] = outlier_weight
    return w


@tasks.register("reaching_velocity")
class ReachingVelocity(Task):
    """Decode 2-D cursor / hand velocity from spikes; R^2 on the evaluation intervals."""

    kind = TaskKind.regression
    Params = ReachingParams
    primary_metric = "r2"

    def check_recording(self, rec: Recording) -> None:
        if rec.behaviour is None:
            raise DataError(
                f"Recording {rec.path or rec.recording_id} has no behaviour (cursor / hand velocity): "
                "task 'reaching_velocity' needs one. Use a classification task such as "
                "'reach_direction' for recordings without kinematics."
            )
        missing = [s for s in ("train", "valid", "test") if s not in rec.splits]
        if missing:
            raise DataError(
                f"Recording {rec.path or rec.recording_id} has no {', '.join(m + '_domain' for m in missing)}; "
                "expected train/valid/test domains as brainsets writes them."
            )

    def eval_intervals(self, rec: Recording) -> Intervals | None:
        """Intervals scored by the metric (None = everything in the split)."""
        mode = self.params.eval_phase
        if mode == "auto":
            mode = "reach" if rec.task_type == "center_out" else "all"
        if mode == "all":
            return None
        reach = rec.phases.get("reach_period")
        if reach is None or len(reach) == 0:
            raise DataError(
                f"Recording {rec.path or rec.recording_id} has no movement_phases.reach_period, "
                "but eval_phase is 'reach'. Set eval_phase: all for continuous tasks."
            )
        if rec.trials is not None:
            reach = reach.intersect(rec.trials.as_intervals(rec.trials.is_valid))
        return reach

    def prepare(self, rec: Recording, chunk_s: float) -> TaskData:
        self.check_recording(rec)
        b = rec.behaviour
        names = tuple(f"v{ax}" for ax in "xyz"[: b.vel.shape[1]])
        spec = OutputSpec(TaskKind.regression, b.vel.shape[1], names)
        scored = self.eval_intervals(rec)
        data = TaskData(rec, spec, chunk_s)
        for split in ("train", "valid", "test"):
            segments = []
            for s, e in split_segments_spans(rec, split, chunk_s, self.params.min_segment_s):
                lo, hi = np.searchsorted(b.timestamps, [s, e], side="left")
                q = b.timestamps[lo:hi]
                if q.size == 0:
                    continue
                targets = b.vel[lo:hi].astype(np.float32)
                weights = phase_weights(rec, q, self.params.phase_weights, self.params.outlier_weight)
                mask = np.ones(q.shape, bool) if scored is None else scored.contains(q)
                mask &= ~rec.outliers.contains(q)
                segments.append(Segment(rec, s, e, q, targets, weights, mask))
            data.splits[split] = segments
        check_task_data(data, self.registry_name or "reaching_velocity")
        return data

    def score(self, segments: list[Segment], predictions: list[np.ndarray]) -> dict:
        y_true = np.concatenate([s.targets[s.eval_mask] for s in segments])
        y_pred = np.concatenate([p[s.eval_mask] for s, p in zip(segments, predictions)])
        if y_true.shape[0] < 2:
            raise DataError("No evaluation samples in the test split: cannot compute R^2.")
        out = r2_scores(y_true, y_pred)
        out["n_samples"] = int(y_true.shape[0])
        return out

