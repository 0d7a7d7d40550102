import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from bench.metrics.classification import accuracy, balanced_accuracy, confusion_matrix


def test_accuracy_from_labels_and_logits():
    y = np.array([0, 1, 2, 2])
    assert accuracy(y, np.array([0, 1, 1, 2])) == pytest.approx(0.75)
    logits = np.array([[5.0, 0, 0], [0, 2, 1], [0, 3, 1], [1, 0, 4]])
    assert accuracy(y, logits) == pytest.approx(0.75)
    assert isinstance(accuracy(y, logits), float)


def test_accuracy_validation():
    with pytest.raises(ValueError):
        accuracy(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError):
        accuracy(np.array([0, 1]), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="integer"):
        accuracy(np.array([0, 1]), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="no samples"):
        accuracy(np.array([], dtype=int), np.array([], dtype=int))


def test_confusion_matrix():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(y_true, y_pred, n_classes=4)
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 0] = 1
    expected[0, 1] = 1
    expected[1, 1] = 1
    expected[2, 2] = 2
    expected[2, 0] = 1
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(y_true, y_pred, labels=range(4)))
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(y_true, y_pred, n_classes=2)


def test_balanced_accuracy():
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 0, 0, 0, 1])
    # recalls: class 0 -> 1.0, class 1 -> 0.5
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(0.75)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    # majority-class predictor: accuracy high, balanced accuracy at chance
    majority = np.zeros(6, dtype=int)
    assert accuracy(y_true, majority) == pytest.approx(4 / 6)
    assert balanced_accuracy(y_true, majority) == pytest.approx(0.5)
