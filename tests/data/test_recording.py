import h5py
import numpy as np
import pytest
from temporaldata import Data, RegularTimeSeries

from bench.data.intervals import Intervals
from bench.data.recording import FeatureStream, Recording, split_trials
from bench.data.storage import load_recording, save_recording
from bench.data.views import bin_spikes, binned_counts
from bench.errors import DataError
from tests.conftest import make_recording
from tests.data.feature_recordings import crossings_recording, power_recording, spike_band_power, threshold_crossings


def test_round_trip_keeps_every_field(tmp_path):
    rec = make_recording()
    path = save_recording(rec, tmp_path / "r.h5")
    back = load_recording(path)
    np.testing.assert_array_equal(back.spike_times, rec.spike_times)
    np.testing.assert_array_equal(back.spike_units, rec.spike_units)
    np.testing.assert_array_equal(back.unit_ids, rec.unit_ids)
    np.testing.assert_allclose(back.behaviour.vel, rec.behaviour.vel)
    np.testing.assert_array_equal(back.trials.target_id, rec.trials.target_id)
    assert back.task_type == "center_out"
    assert back.recording_id == rec.recording_id
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(back.splits[split].start, rec.splits[split].start)
    np.testing.assert_array_equal(back.phases["reach_period"].end, rec.phases["reach_period"].end)


def test_file_uses_brainsets_layout(tmp_path):
    path = save_recording(make_recording(), tmp_path / "r.h5")
    with h5py.File(path) as f:
        for key in ("spikes/timestamps", "spikes/unit_index", "units/id", "cursor/vel", "trials/start",
                    "movement_phases/reach_period/start", "train_domain/start", "test_domain/end", "domain/start"):
            assert key in f, key
        assert f["session"].attrs["id"] == "tiny_0"


def test_velocity_derived_from_position_when_absent(tmp_path):
    rec = make_recording()
    rec.behaviour.pos = np.cumsum(rec.behaviour.vel, axis=0) * 0.01
    path = save_recording(rec, tmp_path / "r.h5")
    with h5py.File(path, "a") as f:
        del f["cursor/vel"]
    back = load_recording(path)
    inner = slice(5, -5)
    np.testing.assert_allclose(back.behaviour.vel[inner], np.gradient(rec.behaviour.pos, 0.01, axis=0)[inner], atol=1e-6)


def test_corrupt_file_gives_data_error(tmp_path):
    path = save_recording(make_recording(), tmp_path / "r.h5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="r.h5"):
        load_recording(path)


def test_not_a_recording_gives_data_error(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(DataError, match="spikes"):
        load_recording(path)


def test_empty_recording_gives_data_error(tmp_path):
    rec = make_recording()
    rec.spike_times = rec.spike_times[:0]
    rec.spike_units = rec.spike_units[:0]
    path = save_recording(rec, tmp_path / "empty.h5")
    with pytest.raises(DataError, match="empty"):
        load_recording(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_recording(tmp_path / "nope.h5")


def test_split_trials_is_seeded_70_10_20():
    rec = make_recording(n_trials=100)
    a = split_trials(rec.trials, seed=42)
    b = split_trials(rec.trials, seed=42)
    assert [len(a[s]) for s in ("train", "valid", "test")] == [70, 10, 20]
    np.testing.assert_array_equal(a["test"].start, b["test"].start)
    union = a["train"].union(a["valid"]).union(a["test"])
    assert union.duration == pytest.approx(rec.trials.as_intervals().duration)


def test_spikes_between_is_half_open():
    rec = make_recording()
    t0 = rec.spike_times[10]
    t, _ = rec.spikes_between(t0, t0 + 0.5)
    assert t[0] == t0 and np.all(t < t0 + 0.5)


# ----------------------------------------------------------------------------- feature streams


def test_feature_streams_round_trip_with_spikes(tmp_path):
    rec = make_recording(n_trials=6)
    tc, sbp = threshold_crossings(rec), spike_band_power(rec, n_channels=8)
    rec.features = {tc.name: tc, sbp.name: sbp}
    back = load_recording(save_recording(rec, tmp_path / "r.h5"))
    assert back.events_from is None and back.streams == ("spikes", "spike_band_power", "threshold_crossings")
    np.testing.assert_array_equal(back.spike_times, rec.spike_times)
    for stream in (tc, sbp):
        got = back.features[stream.name]
        assert (got.kind, got.bin_s, got.t0) == (stream.kind, stream.bin_s, stream.t0)
        assert got.values.dtype == np.float32
        np.testing.assert_array_equal(got.values, stream.values)
        np.testing.assert_array_equal(got.channel_ids, stream.channel_ids)


def test_streams_are_temporaldata_regular_time_series(tmp_path):

    path = save_recording(crossings_recording(n_trials=4), tmp_path / "r.h5")
    with h5py.File(path) as f:
        assert "spikes" not in f and "units" not in f  # derived events are not written
        assert f["features/threshold_crossings"].attrs["kind"] == "counts"
        series = Data.from_hdf5(f, lazy=False).features.threshold_crossings.series
    assert isinstance(series, RegularTimeSeries) and series.sampling_rate == 100.0
    assert np.asarray(series.values).shape[1] == 192


def test_features_only_recording_derives_one_event_per_crossing(tmp_path):
    back = load_recording(save_recording(crossings_recording(n_trials=4), tmp_path / "r.h5"))
    tc = back.features["threshold_crossings"]
    assert back.events_from == "threshold_crossings" and back.n_units == 192
    np.testing.assert_array_equal(back.unit_ids, tc.channel_ids)
    assert back.spike_times.size == tc.values.sum()
    assert np.all(np.diff(back.spike_times) >= 0)
    # events sit at bin centres: binned on a 20 ms grid they give the stream summed in pairs
    twenty = bin_spikes(back.spike_times, back.spike_units, 192, 0.0, tc.n_bins // 2, 0.02)
    np.testing.assert_array_equal(twenty, tc.values.reshape(-1, 2, 192).sum(axis=1))


def test_continuous_only_recording_has_no_spike_events(tmp_path):
    back = load_recording(save_recording(power_recording(n_trials=4), tmp_path / "r.h5"))
    assert back.n_units == 0 and back.events_from is None and back.streams == ("spike_band_power",)
    assert back.features["spike_band_power"].values.shape[1] == 256
    assert back.behaviour is not None and back.duration == pytest.approx(8.0)


@pytest.mark.parametrize("change, message", [
    (dict(values=np.full((4, 2), np.nan)), "non-finite"),
    (dict(values=np.zeros((4, 3))), "shape"),
    (dict(values=np.full((4, 2), 0.5)), "whole non-negative"),
    (dict(values=np.full((4, 2), -1.0)), "whole non-negative"),
    (dict(bin_s=0.0), "positive"),
    (dict(kind="rates"), "kind"),
    (dict(name="spikes"), "name"),
])
def test_feature_stream_validation_names_the_stream(change, message):
    args = dict(name="tc", bin_s=0.01, t0=0.0, values=np.ones((4, 2)), channel_ids=["a", "b"], kind="counts")
    with pytest.raises(DataError, match=message):
        FeatureStream(**{**args, **change})
    FeatureStream(**{**args, "values": np.full((4, 2), 0.5), "kind": "continuous"})  # fine as continuous


def test_stream_off_the_domain_grid_is_refused():
    rec = make_recording(n_trials=2)
    with pytest.raises(DataError, match="not on the 10 ms grid"):
        rec.features = {"tc": FeatureStream("tc", 0.01, 0.004, np.ones((4, 2)), ["a", "b"])}
        rec.__post_init__()


def test_invalid_stream_in_file_names_the_file(tmp_path):
    path = save_recording(crossings_recording(n_trials=2), tmp_path / "bad.h5")
    with h5py.File(path, "a") as f:
        f["features/threshold_crossings/series/values"][0, 0] = 0.5
    with pytest.raises(DataError, match=r"bad\.h5.*threshold_crossings.*whole"):
        load_recording(path)


def test_file_without_spikes_or_features_is_refused(tmp_path):
    rec = make_recording(n_trials=2)
    empty = Recording(rec.recording_id, "s", "b", "unknown", rec.domain, np.zeros(0), np.zeros(0, np.int64), np.zeros(0, str))
    path = save_recording(empty, tmp_path / "none.h5")
    with pytest.raises(DataError, match="spikes"):
        load_recording(path)


def test_derived_events_refuse_model_bins_that_split_the_stream_bins():
    rec = crossings_recording(n_trials=2)
    assert rec.spike_bin_s == 0.01
    binned_counts(rec, 0.02)
    with pytest.raises(DataError, match="not a whole multiple"):
        binned_counts(rec, 0.025)
