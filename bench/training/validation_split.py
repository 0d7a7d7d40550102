"""Is a validation split big enough to select a training epoch on?

The shared loop keeps the weights of the epoch with the lowest validation loss and stops early on
it. On a handful of validation samples that loss is noise: one MLP on a small real recording kept
epoch 0 and scored R^2 -0.695 on test. A run that would select on such a split is refused before
training, naming the session, the split's size and the minimum, and what to do instead.
"""

from __future__ import annotations

from typing import Sequence

from bench.errors import SuiteError
from bench.tasks.base import TaskData, TaskKind
from bench.training.config import TrainConfig

# the least a validation split must hold for selection: scored output samples for a regression
# (1 s of 10 ms behaviour), trials for a classification, sentences for a sequence task
MIN_VALID = {TaskKind.regression: (100, "scored samples"), TaskKind.classification: (8, "trials"),
             TaskKind.sequence: (4, "sentences")}


def valid_size(data: TaskData) -> int:
    """The split's size in the unit ``MIN_VALID`` counts for the session's task kind."""
    segments = data.segments("valid")
    if data.spec.kind == TaskKind.regression:
        return int(sum(int((s.weights > 0).sum()) for s in segments))
    return len(segments)


def selects_on_valid(train: TrainConfig) -> bool:
    """Whether training picks an epoch on the validation split (one epoch leaves nothing to pick)."""
    return train.select_on_valid and train.epochs > 1


def check_validation_split(model: str, sessions: Sequence[TaskData], train: TrainConfig, where: str) -> None:
    """SuiteError when ``model`` would select its epoch on a validation split under ``MIN_VALID``."""
    if not selects_on_valid(train):
        return
    for data in sessions:
        if data.spec.kind not in MIN_VALID:
            continue
        need, unit = MIN_VALID[data.spec.kind]
        have = valid_size(data)
        if have < need:
            rec = data.recording
            raise SuiteError(
                f"{where}: model '{model}' selects its training epoch on the validation split (early stopping, "
                f"train.epochs = {train.epochs}), but session {rec.recording_id} ({rec.path or 'in memory'}) has "
                f"{have} validation {unit}, fewer than the {need} needed to select on. Give the dataset a larger "
                "valid split, or set `train: {select_on_valid: false}` to train a fixed number of epochs and keep "
                "the last weights. Nothing was trained."
            )
