"""Classification read out once per trial: the segment that ends at the decision, and its scores.

Shared by the trial classification tasks (reach direction, handwritten characters): a segment spans
a trial from its start to the readout time, snapped inward to the chunk grid, with one query just
before its end, where a streaming decoder has seen every chunk of it.
"""

from __future__ import annotations

import numpy as np

from bench.data.recording import Recording
from bench.data.views import snap_inward
from bench.errors import DataError
from bench.metrics.classification import accuracy, balanced_accuracy
from bench.tasks.base import Segment, TaskData, check_task_data


def readout_segment(rec: Recording, start: float, end: float, label: int, chunk_s: float) -> Segment | None:
    """The segment of [start, end) on the chunk grid with its decision at the end; None if no chunk fits."""
    s, e = snap_inward(start, end, float(rec.domain.start[0]), chunk_s)
    if e <= s:
        return None
    return Segment(rec, s, e, np.array([e - 1e-6]), np.array([label]), np.ones(1, np.float32), np.ones(1, bool))


def require_train_and_test(data: TaskData, task: str) -> TaskData:
    """``data`` once its train and test splits hold trials with valid, varied labels (check_task_data)."""
    rec = data.recording
    if not data.splits.get("train") or not data.splits.get("test"):
        raise DataError(
            f"Recording {rec.path or rec.recording_id}: {task} found {len(data.splits.get('train', []))} train "
            f"and {len(data.splits.get('test', []))} test trials; need both."
        )
    check_task_data(data, task)
    return data


def classification_scores(segments: list[Segment], predictions: list[np.ndarray], n_classes: int | None = None) -> dict:
    """Accuracy, balanced accuracy and the count; with ``n_classes``, the confusion matrix too
    (rows: true class, columns: predicted)."""
    y_true = np.concatenate([s.targets for s in segments])
    logits = np.concatenate([p.reshape(len(s.targets), -1) for s, p in zip(segments, predictions)])
    y_pred = logits.argmax(axis=1)
    scores = {"accuracy": accuracy(y_true, logits), "balanced_accuracy": balanced_accuracy(y_true, y_pred),
              "n_samples": int(y_true.size)}
    if n_classes is not None:
        confusion = np.zeros((n_classes, n_classes), np.int64)
        np.add.at(confusion, (y_true, y_pred), 1)
        scores["confusion"] = confusion.tolist()
    return scores
