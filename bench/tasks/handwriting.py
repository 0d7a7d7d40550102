"""Handwriting: classify the character of each attempted-writing trial (Willett et al. 2021).

Each trial (instructed delay, go cue, ~1 s of writing) is one segment from the trial start to the
readout time, ``readout_s`` after the go cue (default: the trial end), and the decoder outputs the
31 class logits at one query at the readout, as a streaming decoder would commit to a character
then. Accuracy per session (the suite reports mean +- SD over sessions), balanced accuracy and the
confusion matrix (rows: true character, columns: decoded; over ``CHARACTERS`` order) are stored.
Splits follow the recording's train/valid/test domains (a trial belongs to the split holding its
start). The go cue is the start of the trial's ``movement_phases.reach_period`` (bench.data.letters).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from bench.data.letters import CHARACTERS, go_cues
from bench.data.recording import Recording
from bench.data.views import snap_inward
from bench.errors import DataError
from bench.metrics.classification import accuracy, balanced_accuracy
from bench.registry import tasks
from bench.tasks.base import OutputSpec, Segment, Task, TaskData, TaskKind, TaskParams


class HandwritingParams(TaskParams):
    readout_s: float | None = Field(
        None, gt=0, le=30, description="read the character out this long after the go cue (None: at the trial end)"
    )


@tasks.register("handwriting_character")
class HandwritingCharacter(Task):
    """Which of the 31 characters was attempted, read out once per trial."""

    kind = TaskKind.classification
    Params = HandwritingParams
    primary_metric = "accuracy"
    class_names = CHARACTERS  # axis labels of the report's confusion figure

    def check_recording(self, rec: Recording) -> None:
        where = f"Recording {rec.path or rec.recording_id}"
        if rec.trials is None or len(rec.trials) == 0:
            raise DataError(f"{where} has no trials: task 'handwriting_character' needs one trial per written character.")
        bad = rec.trials.target_id[(rec.trials.target_id < 0) | (rec.trials.target_id >= len(CHARACTERS))]
        if bad.size:
            raise DataError(f"{where}: trials.target_id holds {int(bad[0])}; task 'handwriting_character' expects "
                            f"character indices 0-{len(CHARACTERS) - 1} (bench.data.letters.CHARACTERS).")
        missing = [s for s in ("train", "valid", "test") if s not in rec.splits]
        if missing:
            raise DataError(f"{where} has no {', '.join(m + '_domain' for m in missing)}.")
        go_cues(rec)

    def prepare(self, rec: Recording, chunk_s: float) -> TaskData:
        self.check_recording(rec)
        tr, go = rec.trials, go_cues(rec)
        spec = OutputSpec(TaskKind.classification, len(CHARACTERS), CHARACTERS)
        origin = float(rec.domain.start[0])
        data = TaskData(rec, spec, chunk_s)
        readout = self.params.readout_s
        for split in ("train", "valid", "test"):
            segments = []
            for i in np.flatnonzero(tr.is_valid & rec.split(split).contains(tr.start)):
                end = tr.end[i] if readout is None else go[i] + readout
                if end > tr.end[i] + 1e-9:
                    raise DataError(
                        f"Recording {rec.path or rec.recording_id}: task 'handwriting_character' readout_s={readout:g} s "
                        f"after the go cue falls after the end of trial {int(i)} ({tr.end[i] - go[i]:.3f} s after its "
                        "go cue); choose a readout inside every trial."
                    )
                s, e = snap_inward(tr.start[i], end, origin, chunk_s)
                if e <= s:
                    continue
                q = np.array([e - 1e-6])  # the decision is read out at the end of the segment
                segments.append(Segment(rec, s, e, q, np.array([int(tr.target_id[i])]), np.ones(1, np.float32),
                                        np.ones(1, bool)))
            data.splits[split] = segments
        if not data.splits["train"] or not data.splits["test"]:
            raise DataError(
                f"Recording {rec.path or rec.recording_id}: handwriting_character found "
                f"{len(data.splits['train'])} train and {len(data.splits['test'])} test trials; need both."
            )
        return data

    def score(self, segments: list[Segment], predictions: list[np.ndarray]) -> dict:
        y_true = np.concatenate([s.targets for s in segments])
        logits = np.concatenate([p.reshape(len(s.targets), -1) for s, p in zip(segments, predictions)])
        y_pred = logits.argmax(axis=1)
        confusion = np.zeros((len(CHARACTERS), len(CHARACTERS)), np.int64)
        np.add.at(confusion, (y_true, y_pred), 1)
        return {
            "accuracy": accuracy(y_true, logits),
            "balanced_accuracy": balanced_accuracy(y_true, y_pred),
            "n_samples": int(y_true.size),
            "confusion": confusion.tolist(),
        }
