"""Reach-direction classification: one centre-out trial -> one of K targets, scored by accuracy.

Each successful trial is one segment (from the trial start, optionally cut to ``window_s``); the
decoder outputs class logits at one query at the end of the segment, the way a streaming decoder
would commit to a target once the window has been seen. Splits follow the recording's
train/valid/test domains (trials are assigned to the split that holds their start).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from bench.data.recording import Recording
from bench.data.views import snap_inward
from bench.errors import DataError
from bench.metrics.classification import accuracy, balanced_accuracy
from bench.registry import tasks
from bench.tasks.base import OutputSpec, Segment, Task, TaskData, TaskKind, TaskParams


class ReachDirectionParams(TaskParams):
    window_s: float | None = Field(None, gt=0, description="use only the first window_s of each trial")
    offset_s: float = Field(0.0, ge=0, description="start the window this long after the trial start")


@tasks.register("reach_direction")
class ReachDirection(Task):
    """Classify the reach target of each centre-out trial."""

    kind = TaskKind.classification
    Params = ReachDirectionParams
    primary_metric = "accuracy"

    def check_recording(self, rec: Recording) -> None:
        if rec.trials is None or len(rec.trials) == 0 or np.all(rec.trials.target_id < 0):
            raise DataError(
                f"Recording {rec.path or rec.recording_id} has no trials with target_id: task "
                "'reach_direction' needs trials.target_id (the reach direction of each trial)."
            )
        missing = [s for s in ("train", "valid", "test") if s not in rec.splits]
        if missing:
            raise DataError(
                f"Recording {rec.path or rec.recording_id} has no {', '.join(m + '_domain' for m in missing)}."
            )

    def prepare(self, rec: Recording, chunk_s: float) -> TaskData:
        self.check_recording(rec)
        tr = rec.trials
        usable = tr.is_valid & (tr.target_id >= 0)
        classes = np.unique(tr.target_id[usable])
        spec = OutputSpec(TaskKind.classification, int(classes.size), tuple(str(c) for c in classes))
        origin = float(rec.domain.start[0])
        data = TaskData(rec, spec, chunk_s)
        for split in ("train", "valid", "test"):
            dom = rec.split(split)
            segments = []
            for i in np.flatnonzero(usable & dom.contains(tr.start)):
                start = tr.start[i] + self.params.offset_s
                end = tr.end[i] if self.params.window_s is None else min(tr.end[i], start + self.params.window_s)
                s, e = snap_inward(start, end, origin, chunk_s)
                if e <= s:
                    continue
                label = int(np.searchsorted(classes, tr.target_id[i]))
                q = np.array([e - 1e-6])  # the decision is read out at the end of the window
                segments.append(
                    Segment(rec, s, e, q, np.array([label]), np.ones(1, np.float32), np.ones(1, bool))
                )
            data.splits[split] = segments
        if not data.splits["train"] or not data.splits["test"]:
            raise DataError(
                f"Recording {rec.path or rec.recording_id}: reach_direction found "
                f"{len(data.splits['train'])} train and {len(data.splits['test'])} test trials; need both."
            )
        return data

    def score(self, segments: list[Segment], predictions: list[np.ndarray]) -> dict:
        y_true = np.concatenate([s.targets for s in segments])
        logits = np.concatenate([p.reshape(len(s.targets), -1) for s, p in zip(segments, predictions)])
        return {
            "accuracy": accuracy(y_true, logits),
            "balanced_accuracy": balanced_accuracy(y_true, logits.argmax(axis=1)),
            "n_samples": int(y_true.size),
        }
