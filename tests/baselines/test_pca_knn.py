"""PCA-KNN (Willett et al.): conformance, streaming on handwriting trials, and that it classifies."""

from __future__ import annotations

import numpy as np

from bench.data.simulators.handwriting import HandwritingSimulatorParams, session_specs, simulate_session
from bench.models.base import chunk_segment
from bench.registry import models
from bench.tasks.handwriting import HandwritingCharacter
from bench.testing import TINY_TRAIN, check_decoder


def test_pca_knn_conforms():
    check_decoder("pca-knn", params={"window_ms": 300, "n_components": 4, "k": 3})


def test_classifies_simulated_characters_and_streams_like_predict():
    rec = simulate_session(session_specs(HandwritingSimulatorParams(n_sessions=1, trials_per_character=4,
                                                                     n_electrodes=64, quality=2.0))[0])
    data = HandwritingCharacter().prepare(rec, 0.05)
    model = models.get("pca-knn")(models.params("pca-knn", {"k": 3}), seed=0)
    model.fit([data], TINY_TRAIN, progress=False)
    test = data.segments("test")
    preds = model.predict(test)
    acc = HandwritingCharacter().score(test, preds)["accuracy"]
    assert acc > 0.3  # chance is 1/31
    seg = test[0]
    model.reset(rec)
    streamed = np.concatenate([model.step(c) for c in chunk_segment(seg, 0.05)])
    assert np.allclose(streamed, preds[0])
    assert model.n_parameters() > 0
