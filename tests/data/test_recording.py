import h5py
import numpy as np
import pytest

from bench.data.intervals import Intervals
from bench.data.recording import load_recording, save_recording, split_trials
from bench.errors import DataError
from tests.conftest import make_recording


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
