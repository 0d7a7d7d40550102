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
from bench.errors import DataError
from bench.registry import tasks
from bench.tasks.base import OutputSpec, Segment, Task, TaskData, TaskKind, TaskParams
from bench.tasks.trial_readout import classification_scores, readout_segment, require_train_and_test


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
        data = TaskData(rec, spec, chunk_s)
        for split in ("train", "valid", "test"):
            dom = rec.split(split)
            segments = []
            for i in np.flatnonzero(usable & dom.contains(tr.start)):
                start = tr.start[i] + self.params.offset_s
                end = tr.end[i] if self.params.window_s is None else min(tr.end[i], start + self.params.window_s)
                seg = readout_segment(rec, start, end, int(np.searchsorted(classes, tr.target_id[i])), chunk_s)
                if seg is not None:
                    segments.append(seg)
            data.splits[split] = segments
        return require_train_and_test(data, "reach_direction")

    def score(self, segments: list[Segment], predictions: list[np.ndarray]) -> dict:
        return classification_scores(segments, predictions)
