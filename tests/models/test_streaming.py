"""Every registered decoder: streaming (reset + step per chunk) equals offline predict."""

import numpy as np
import pytest

from bench import registry
from bench.errors import SuiteError
from bench.tasks.base import TaskKind
from bench.tasks.reach_direction import ReachDirection
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig
from tests.conftest import make_recording

CHUNK_S = 0.05
FAST = TrainConfig(epochs=1, batch_size=16)  # equality needs set-up, not accuracy
# the large transformers at a tiny size (the same code; the default poyo-mp alone took 85 s here)
_TINY_POYO = dict(dim=16, depth=1, dim_head=8, cross_heads=1, self_heads=2, latents_per_step=2, ff_mult=1)
# the pretrained-scale POSSM presets keep their multi-layer, multi-session path at a small width
_TINY_POSSM_LARGE = dict(dim=32, hidden=32, layers=2)
TINY = {"poyo-ss": _TINY_POYO, "poyo-mp": _TINY_POYO,
        "ndt2": dict(dim=32, heads=2, layers=1, decoder_layers=1, ffn_dim=32, patch_size=8),
        **{f"possm-{b}-large": _TINY_POSSM_LARGE for b in ("gru", "s4d", "mamba")}}


@pytest.fixture(scope="module")
def regression_data():
    return ReachingVelocity().prepare(make_recording(n_trials=30), CHUNK_S)


@pytest.fixture(scope="module")
def classification_data():
    return ReachDirection().prepare(make_recording(n_trials=60), CHUNK_S)


def fitted(name, data, **params):
    cls = registry.models.get(name)
    model = cls(cls.Params(**{**TINY.get(name, {}), **params}), seed=0)
    model.fit([data], FAST, progress=False)
    return model


@pytest.mark.parametrize("name", registry.models.names())
def test_streaming_equals_offline_regression(name, regression_data):
    cls = registry.models.get(name)
    if TaskKind.regression not in cls.supported_kinds:
        pytest.skip(f"{name} does not do regression")
    model = fitted(name, regression_data)
    segs = regression_data.segments("test")[:2]
    offline = model.predict(segs)
    for seg, off in zip(segs, offline):
        streamed = model.stream(seg, CHUNK_S)
        assert streamed.shape == off.shape == (seg.query_times.size, 2)
        np.testing.assert_allclose(streamed, off, atol=1e-5, rtol=1e-5)
    assert model.n_parameters() > 0


@pytest.mark.parametrize("name", registry.models.names())
def test_streaming_equals_offline_classification(name, classification_data):
    cls = registry.models.get(name)
    if TaskKind.classification not in cls.supported_kinds:
        pytest.skip(f"{name} does not do classification")
    model = fitted(name, classification_data)
    segs = classification_data.segments("test")[:3]
    for seg, off in zip(segs, model.predict(segs)):
        assert off.shape == (1, classification_data.spec.dim)
        np.testing.assert_allclose(model.stream(seg, CHUNK_S), off, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["wiener", "mlp", "gru"])
def test_bin_must_divide_chunk(name):
    cls = registry.models.get(name)
    with pytest.raises(SuiteError, match="does not divide"):
        cls(cls.Params(bin_ms=30)).check_chunk(CHUNK_S)
