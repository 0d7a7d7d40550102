"""The conformance kit: every registered model passes it with tiny parameters, and it catches
decoders that break the interface."""

import numpy as np
import pytest

from bench import registry
from bench.models.base import Decoder, ModelParams, chunk_segment
from bench.tasks.base import TaskKind
from bench.testing import (CHECKABLE_KINDS, FEATURE_STREAM, ConformanceError, check_decoder, check_kinds,
                           check_one_query_streaming, check_params)

_POSSM = dict(dim=16, dim_head=8, hidden=16, layers=1, d_state=4, expand=1)
_RECURRENT = dict(embed_dim=8, hidden=16, layers=1, d_state=4, expand=1)
# Tiny sizes per registered model: a model missing here fails the test below, so a new model
# gets its tiny configuration when it is registered.
TINY = {
    "wiener": dict(n_lags=2, alphas=[1.0, 100.0]),
    "mlp": dict(n_lags=2, hidden=16, layers=1),
    "pca-knn": dict(n_components=4, k=3, window_ms=500.0, max_shift_ms=20.0),
    "gru": _RECURRENT, "s4d": _RECURRENT, "mamba": _RECURRENT,
    "ndt2": dict(dim=16, heads=2, layers=1, decoder_layers=1, ffn_dim=16, patch_size=8, context_ms=500.0),
    "poyo-ss": dict(dim=16, depth=1, dim_head=8, cross_heads=1, self_heads=2, latents_per_step=2, ff_mult=1),
    "poyo-mp": dict(dim=16, depth=1, dim_head=8, cross_heads=1, self_heads=2, latents_per_step=2, ff_mult=1),
    **{name: {**_POSSM, "enc_heads": 1, "dec_heads": 1} for name in (
        "possm-gru", "possm-s4d", "possm-mamba", "possm-gru-large", "possm-s4d-large", "possm-mamba-large")},
    **{name: dict(hidden=16, layers=1, d_state=4, expand=1, unfold_kernel=3, unfold_stride=2) for name in (
        "speech-gru", "speech-gru-no-noise", "speech-gru-sbp", "speech-s4d", "speech-mamba", "speech-gru-paper")},
}


@pytest.mark.parametrize("name", registry.models.names())
def test_registered_model_conforms(name):
    assert name in TINY, f"add tiny parameters for '{name}' to TINY"
    fitted = check_decoder(name, TINY[name])
    assert set(fitted) == set(registry.models.get(name).supported_kinds) & set(CHECKABLE_KINDS)


# POYO trains on random windows that can all miss a classification trial's single readout query
# at 10 ms chunks (no training example left); tiled windows cover it, and the stream is the same.
ONE_QUERY = {name: {**TINY[name], "random_windows": False} for name in ("poyo-ss", "poyo-mp")}


@pytest.mark.parametrize("name", registry.models.names())
def test_registered_model_streams_one_query_per_chunk_like_offline(name):
    """Chunk = behaviour sample period (every chunk holds at most one output query): streamed ==
    offline at 1e-5 for every task kind the model declares."""
    cls = registry.models.get(name)
    params = ONE_QUERY.get(name, TINY[name])
    if not cls(cls.Params(**params)).streams_like_predict:
        pytest.skip(f"{name} declares streaming unlike predict")
    diffs = check_one_query_streaming(name, params)
    assert set(diffs) == set(cls.supported_kinds) & set(CHECKABLE_KINDS)  # every kind checked, at 1e-5 (+1e-5 relative)


def test_one_query_check_catches_a_stream_that_drops_a_lone_query():
    """The fault POSSM had: a chunk holding exactly one query streamed something else."""

    class LoneQueryWrong(MeanRate):
        def step(self, chunk):
            out = super().step(chunk)
            return out + 0.5 if chunk.query_times.size == 1 else out

    assert check_one_query_streaming(MeanRate) == {TaskKind.regression: 0.0}
    with pytest.raises(ConformanceError, match="with one query per 10 ms chunk differs from predict"):
        check_one_query_streaming(LoneQueryWrong)


@pytest.mark.parametrize("name, streams", [
    ("wiener", {"input_streams": [FEATURE_STREAM]}),
    ("possm-gru", {"feature_streams": [FEATURE_STREAM]}),
])
def test_models_reading_feature_streams_conform(name, streams):
    check_decoder(name, {**TINY[name], **streams}, kinds=["regression"])


# ------------------------------------------------------------------ broken decoders are caught


class MeanParams(ModelParams):
    scale: float = 1.0


class MeanRate(Decoder):
    """Outputs the running mean spike count per chunk times a weight per output (a toy that
    passes every check); subclasses below each break one rule."""

    Params = MeanParams
    supported_kinds = frozenset({TaskKind.regression})

    def fit(self, sessions, train, progress=True):
        self.dim, self.chunk_s = sessions[0].spec.dim, sessions[0].chunk_s
        self.weights = np.linspace(1.0, 2.0, self.dim) * self.params.scale
        return {}

    def n_parameters(self):
        return self.dim

    def output(self, chunk, mean):
        """Outputs at the chunk's queries from the running mean count."""
        return np.tile(mean * self.weights, (chunk.query_times.size, 1))

    def predict(self, segments):
        out = []
        for seg in segments:
            chunks = chunk_segment(seg, self.chunk_s)
            means = np.cumsum([c.spike_times.size for c in chunks]) / np.arange(1, len(chunks) + 1)
            out.append(np.concatenate([self.output(c, m) for c, m in zip(chunks, means)]))
        return out

    def reset(self, recording):
        self.total, self.n = 0, 0

    def step(self, chunk):
        self.total, self.n = self.total + chunk.spike_times.size, self.n + 1
        return self.output(chunk, self.total / self.n)


def test_a_conforming_toy_passes():
    check_decoder(MeanRate)


class LeakyState(MeanRate):
    def reset(self, recording):  # forgets to clear the state after the first stream
        if not hasattr(self, "total"):
            super().reset(recording)


class BatchLeak(MeanRate):
    def predict(self, segments):  # carries the state from one segment of the batch to the next
        self.reset(None)
        return [np.concatenate([self.step(c) for c in chunk_segment(seg, self.chunk_s)]) for seg in segments]


class WrongShape(MeanRate):
    def predict(self, segments):
        return [y[:, :1] for y in super().predict(segments)]


class StreamsDifferently(MeanRate):
    def step(self, chunk):
        return super().step(chunk) + 1.0


class AcceptsAnything(MeanRate):
    class Params(ModelParams, extra="allow"):
        scale: float = 1.0


class ReadsUndeclared(MeanRate):
    def output(self, chunk, mean):  # also reads feature streams it does not declare
        return super().output(chunk, mean) + sum(float(v.sum()) for v in chunk.features.values())


@pytest.mark.parametrize("cls, message", [
    (LeakyState, "after another one differs from streaming it first"),
    (BatchLeak, "inside a batch"),
    (WrongShape, r"must have shape \(\d+, 2\)"),
    (StreamsDifferently, "differs from predict"),
    (AcceptsAnything, "accepts an unknown field"),
    (ReadsUndeclared, "outputs changed when streams it does not read"),
])
def test_broken_decoders_are_reported(cls, message):
    with pytest.raises(ConformanceError, match=message):
        check_decoder(cls)


def test_params_and_kinds_are_checked_before_running():
    with pytest.raises(ConformanceError, match="Params rejects the parameters under test"):
        check_params(MeanRate, {"scale": "big"}, "mean")
    with pytest.raises(ConformanceError, match=r"does not declare in supported_kinds"):
        check_kinds(MeanRate, ["classification"], "mean")
