"""Handwriting: classify the character of each attempted-writing trial (Willett et al. 2021).

Each trial (instructed delay, go cue, ~1 s of writing) is one segment from the trial start (or
``start_s`` after the go cue) to the readout time, ``readout_s`` after the go cue (default: the trial end), and the decoder outputs the
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
from bench.errors import DataError
from bench.registry import tasks
from bench.tasks.base import OutputSpec, Segment, Task, TaskData, TaskKind, TaskParams
from bench.tasks.trial_readout import classification_scores, readout_segment, require_train_and_test


class HandwritingParams(TaskParams):
    readout_s: float | None = Field(
        None, gt=0, le=30, description="read the character out this long after the go cue (None: at the trial end)"
    )
    start_s: float | None = Field(
        None, ge=-30, le=30, description="segments start this long after the go cue (negative: before it; None: at "
        "the trial start). The instructed delay carries no character information; cropping it makes every decoder "
        "train on the writing only, ~25 % cheaper per epoch for the whole-trial models",
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
        data = TaskData(rec, spec, chunk_s)
        readout, start_s = self.params.readout_s, self.params.start_s
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
                start = tr.start[i] if start_s is None else go[i] + start_s
                if start < tr.start[i] - 1e-9 or start >= end:
                    raise DataError(
                        f"Recording {rec.path or rec.recording_id}: task 'handwriting_character' start_s={start_s:g} s "
                        f"after the go cue falls outside trial {int(i)} (its start is {tr.start[i] - go[i]:.3f} s and its "
                        f"readout {end - go[i]:.3f} s after the go cue); choose a start inside every trial, before the readout."
                    )
                seg = readout_segment(rec, start, end, int(tr.target_id[i]), chunk_s)
                if seg is not None:
                    segments.append(seg)
            data.splits[split] = segments
        return require_train_and_test(data, "handwriting_character")

    def score(self, segments: list[Segment], predictions: list[np.ndarray]) -> dict:
        return classification_scores(segments, predictions, n_classes=len(CHARACTERS))
