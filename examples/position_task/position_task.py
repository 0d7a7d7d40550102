"""Decode cursor / hand position instead of velocity: an example task plugin for neural-decoder-bench.

Everything but the targets comes from the reaching task: splits, loss weights by movement
phase, evaluation intervals and R^2.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bench.errors import DataError
from bench.tasks.base import OutputSpec, TaskData, TaskKind
from bench.tasks.reaching import ReachingVelocity


class ReachingPosition(ReachingVelocity):
    """Decode 2-D cursor / hand position from spikes; R^2 on the evaluation intervals."""

    def check_recording(self, rec) -> None:
        super().check_recording(rec)
        if rec.behaviour.pos is None:
            raise DataError(f"Recording {rec.path or rec.recording_id} has no cursor / hand position: "
                            "task 'reaching_position' needs one (cursor.pos or hand.pos).")

    def prepare(self, rec, chunk_s: float) -> TaskData:
        data = super().prepare(rec, chunk_s)
        b = rec.behaviour
        data.spec = OutputSpec(TaskKind.regression, b.pos.shape[1], tuple(f"p{ax}" for ax in "xyz"[: b.pos.shape[1]]))
        for segments in data.splits.values():
            for i, seg in enumerate(segments):
                at_queries = np.searchsorted(b.timestamps, seg.query_times)
                segments[i] = replace(seg, targets=b.pos[at_queries].astype(np.float32))
        return data
