"""Decoders on feature streams: binned decoders read crossings as counts and power as features,
POSSM reads crossings as events and power as a per-chunk latent input; streaming equals offline."""

import numpy as np
import pytest
from pydantic import ValidationError

from bench import registry
from bench.data.recording import SPIKES
from bench.errors import DataError
from bench.models.base import InputKind, chunk_segment
from bench.models.binned import segment_inputs, plan_reads
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig
from tests.conftest import make_recording
from tests.data.feature_recordings import crossings_recording, power_recording, spike_band_power

FAST = TrainConfig(epochs=1, batch_size=16)


def fitted(name: str, data, **params):
    cls = registry.models.get(name)
    model = cls(cls.Params(**params), seed=0)
    model.fit([data], FAST, progress=False)
    return model


def assert_streams_like_predict(model, data, chunk_s: float) -> None:
    segs = data.segments("test")[:2]
    for seg, off in zip(segs, model.predict(segs)):
        assert np.isfinite(off).all() and np.ptp(off) > 0
        np.testing.assert_allclose(model.stream(seg, chunk_s), off, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def crossings():
    return ReachingVelocity().prepare(crossings_recording(n_trials=20), 0.05)


@pytest.fixture(scope="module")
def spikes_and_power():
    """Spikes plus a 256-channel spike-band-power stream at 20 ms, on a 100 ms chunk."""
    rec = make_recording(n_trials=20)
    sbp = spike_band_power(rec)
    rec.features = {sbp.name: sbp}
    return ReachingVelocity().prepare(rec, 0.1)


def test_chunks_carry_their_feature_bins(spikes_and_power):
    seg = spikes_and_power.segments("test")[0]
    chunks = chunk_segment(seg, 0.1)
    sbp = seg.recording.features["spike_band_power"]
    first = int(round((seg.start - sbp.t0) / sbp.bin_s))
    assert all(c.features["spike_band_power"].shape == (5, 256) for c in chunks)
    np.testing.assert_array_equal(chunks[1].features["spike_band_power"], sbp.values[first + 5 : first + 10])
    assert chunk_segment(seg, 0.05)[0].features == {}  # 20 ms bins do not divide a 50 ms chunk


def test_crossings_read_as_counts_equal_their_derived_events_binned(crossings):
    seg = crossings.segments("train")[0]
    as_stream = segment_inputs(seg, plan_reads(seg.recording, ["threshold_crossings"], 0.05), 0.05)
    as_events = segment_inputs(seg, plan_reads(seg.recording, [SPIKES], 0.05), 0.05)
    assert as_stream.shape[1] == 192
    np.testing.assert_array_equal(as_stream, as_events)


@pytest.mark.parametrize("name", ["gru", "wiener", "mlp"])
def test_binned_decoders_on_threshold_crossings(name, crossings):
    model = fitted(name, crossings, input_streams=["threshold_crossings"], bin_ms=10)
    assert model.n_inputs == 192
    assert_streams_like_predict(model, crossings, 0.05)


def test_gru_on_spikes_and_power_side_by_side(spikes_and_power):
    model = fitted("gru", spikes_and_power, input_streams=["spikes", "spike_band_power"], bin_ms=20)
    assert model.n_inputs == 16 + 256
    assert model.read_streams() == {SPIKES: InputKind.binned_counts, "spike_band_power": InputKind.features}
    assert_streams_like_predict(model, spikes_and_power, 0.1)


def test_possm_reads_crossings_as_events(crossings):
    model = fitted("possm-gru", crossings)
    assert model.module.unit_emb.num_embeddings == 192
    assert_streams_like_predict(model, crossings, 0.05)


def test_possm_takes_power_as_a_latent_input(spikes_and_power):
    model = fitted("possm-gru", spikes_and_power, feature_streams=["spike_band_power"])
    assert model.module.feature_in.project.in_features == 256
    assert_streams_like_predict(model, spikes_and_power, 0.1)
    plain = fitted("possm-gru", spikes_and_power)
    assert plain.module.feature_in is None and "feature_in.project.weight" not in plain.module.state_dict()


def test_possm_refuses_a_recording_without_spike_events():
    data = ReachingVelocity().prepare(power_recording(n_trials=6), 0.1)
    with pytest.raises(DataError, match=r"'possm-gru' reads spikes.*sbp_0.*spike_band_power"):
        fitted("possm-gru", data)


def test_binned_decoder_refuses_a_missing_stream(crossings):
    with pytest.raises(DataError, match="no feature stream 'spike_band_power'"):
        fitted("wiener", crossings, input_streams=["spike_band_power"])


@pytest.mark.parametrize("name", registry.models.names())
def test_every_model_reads_only_what_it_declares(name):
    cls = registry.models.get(name)
    model = cls(cls.Params())
    assert set(model.read_streams().values()) <= cls.inputs
    power_only = power_recording(n_trials=2)  # spike-band power and nothing to read as counts or events
    missing = model.missing_inputs(power_only)
    assert missing and missing == [s for s in model.read_streams() if s not in power_only.streams]


@pytest.mark.parametrize("streams", [["spikes"], ["spike_band_power", "spike_band_power"]])
def test_possm_feature_streams_are_distinct_stream_names(streams):
    with pytest.raises(ValidationError, match="feature_streams"):
        registry.models.get("possm-gru").Params(feature_streams=streams)
