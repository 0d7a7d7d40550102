"""NWB files written here with pynwb, laid out as DANDI / NLB publish them (MC_Maze, DANDI 000688)."""

from __future__ import annotations

from datetime import datetime, timezone

import h5py
import numpy as np
import pytest

from bench.data.importers import import_from_spec
from bench.data.storage import load_recording
from bench.errors import DataError

pynwb = pytest.importorskip("pynwb", reason="pynwb (a dependency: pip install -e .) is not installed")
from pynwb import NWBHDF5IO, NWBFile, TimeSeries  # noqa: E402
from pynwb.behavior import BehavioralTimeSeries, Position, SpatialSeries  # noqa: E402

N_UNITS, RATE = 4, 100.0


def _nwbfile() -> NWBFile:
    return NWBFile(session_description="test", identifier="t", session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc))


def _spikes(rng, nwb: NWBFile, ids=None) -> list[np.ndarray]:
    trains = [np.sort(rng.uniform(0.0, 10.0, 40 + 10 * k)) for k in range(N_UNITS)]
    for k, train in enumerate(trains):
        nwb.add_unit(spike_times=train, **({} if ids is None else {"id": ids[k]}))
    return trains


def _trials(nwb: NWBFile, splits=("train", "train", "val", "train", "val")) -> None:
    nwb.add_trial_column(name="target_id", description="reach target")
    nwb.add_trial_column(name="split", description="NLB split")
    nwb.add_trial_column(name="result", description="R: rewarded, A: aborted (DANDI 000688)")
    nwb.add_trial_column(name="success", description="NLB success flag")
    for i, split in enumerate(splits):
        nwb.add_trial(start_time=0.5 + 2.0 * i, stop_time=1.9 + 2.0 * i, target_id=i % 3, split=split,
                      result="A" if i == 1 else "R", success=i != 3)


def _write(nwb: NWBFile, path) -> None:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def mc_maze_like(path, rng, nan_rows=(5, 6)):
    """Units, behavior/{hand_vel, hand_pos, cursor_pos, eye_pos} TimeSeries with timestamps, trials."""
    nwb = _nwbfile()
    trains = _spikes(rng, nwb)
    t = np.arange(0.0, 10.0, 1.0 / RATE)
    vel = rng.normal(size=(t.size, 2))
    vel[list(nan_rows)] = np.nan  # NLB marks missing samples with NaN
    module = nwb.create_processing_module("behavior", "behaviour")
    module.add(TimeSeries(name="hand_vel", data=vel, timestamps=t, unit="mm/s"))
    for name in ("hand_pos", "cursor_pos", "eye_pos"):
        module.add(TimeSeries(name=name, data=rng.normal(size=(t.size, 2)), timestamps=t, unit="mm"))
    _trials(nwb)
    _write(nwb, path)
    return trains, t, vel


def test_mc_maze_layout_round_trip(tmp_path):
    trains, t, vel = mc_maze_like(tmp_path / "maze.nwb", np.random.default_rng(0))
    spec = dict(path="maze.nwb", label_column="target_id", split_column="split", split_names={"val": "test"})
    rec = load_recording(import_from_spec(spec, tmp_path / "out", base_dir=tmp_path)[0])

    assert rec.unit_ids.tolist() == [f"unit_{k:03d}" for k in range(N_UNITS)]
    for k, train in enumerate(trains):
        np.testing.assert_allclose(rec.spike_times[rec.spike_units == k], train)
    assert rec.behaviour.name == "hand"
    keep = np.isfinite(vel).all(axis=1)
    np.testing.assert_allclose(rec.behaviour.timestamps, t[keep])
    np.testing.assert_allclose(rec.behaviour.vel, vel[keep])
    np.testing.assert_allclose(rec.trials.start, 0.5 + 2.0 * np.arange(5))
    np.testing.assert_allclose(rec.trials.end, 1.9 + 2.0 * np.arange(5))
    np.testing.assert_array_equal(rec.trials.target_id, np.arange(5) % 3)
    assert rec.trials.is_valid.all()  # no valid_column: every trial counts
    # failed trials from a text column (DANDI's result 'R') or a boolean one (NLB's success)
    for column, invalid in (("result", 1), ("success", 3)):
        r = load_recording(import_from_spec(dict(spec, valid_column=column), tmp_path / column, base_dir=tmp_path)[0])
        np.testing.assert_array_equal(r.trials.is_valid, np.arange(5) != invalid)
    # the file's 'val' trials are the test split (split_names), as torch_brain uses NLB's val
    test_starts = [s for s, _ in rec.splits["test"]]
    np.testing.assert_allclose(test_starts, [4.5, 8.5])
    for split in ("train", "valid"):
        assert not rec.splits[split].contains(np.array([4.6, 8.6])).any()


def test_split_names_can_exclude_trials(tmp_path):
    rng = np.random.default_rng(5)
    nwb = _nwbfile()
    _spikes(rng, nwb)
    _trials(nwb, splits=("train", "none", "val", "train", "val"))
    _write(nwb, tmp_path / "t.nwb")
    spec = dict(path="t.nwb", label_column="target_id", valid_column="success", split_column="split",
                split_names={"val": "test", "none": "exclude"})
    rec = load_recording(import_from_spec(spec, tmp_path / "o", base_dir=tmp_path)[0])
    np.testing.assert_allclose(rec.trials.start, [0.5, 4.5, 6.5, 8.5])  # trial 1 ('none') left out
    np.testing.assert_array_equal(rec.trials.target_id, [0, 2, 0, 1])
    np.testing.assert_array_equal(rec.trials.is_valid, [True, True, False, True])
    np.testing.assert_allclose([s for s, _ in rec.splits["test"]], [4.5, 8.5])
    with pytest.raises(DataError, match="excludes every trial"):
        import_from_spec(dict(spec, split_names={k: "exclude" for k in ("train", "val", "none")}), tmp_path / "x", base_dir=tmp_path)


def test_dandi_000688_layout_position_and_velocity_containers(tmp_path):
    """Perich & Miller's DANDI files: behavior/Position/cursor_pos (SpatialSeries), behavior/Velocity/cursor_vel."""
    rng = np.random.default_rng(1)
    nwb = _nwbfile()
    _spikes(rng, nwb, ids=[10, 11, 20, 31])
    t = np.arange(0.0, 10.0, 0.01)
    pos = np.cumsum(rng.normal(size=(t.size, 2)), axis=0)
    vel = np.gradient(pos, t, axis=0)
    module = nwb.create_processing_module("behavior", "behaviour")
    module.add(Position(spatial_series=SpatialSeries(name="cursor_pos", data=pos, timestamps=t, reference_frame="screen")))
    module.add(BehavioralTimeSeries(name="Velocity", time_series=TimeSeries(name="cursor_vel", data=vel, timestamps=t, unit="cm/s")))
    _write(nwb, tmp_path / "sub-C_ses-CO.nwb")

    rec = load_recording(import_from_spec(dict(path="sub-C_ses-CO.nwb", behaviour_name="cursor"), tmp_path / "o", base_dir=tmp_path)[0])
    assert rec.unit_ids.tolist() == ["unit_010", "unit_011", "unit_020", "unit_031"]
    assert rec.behaviour.name == "cursor" and rec.trials is None
    np.testing.assert_allclose(rec.behaviour.vel, vel)
    # position by name, from a rate-sampled series too
    spec = dict(path="sub-C_ses-CO.nwb", behaviour_series="behavior/Position/cursor_pos", behaviour_kind="position")
    rec_pos = load_recording(import_from_spec(spec, tmp_path / "p", base_dir=tmp_path)[0])
    np.testing.assert_allclose(rec_pos.behaviour.pos, pos)
    np.testing.assert_allclose(rec_pos.behaviour.vel[1:], np.diff(pos, axis=0) / 0.01, rtol=1e-6)


def test_rate_sampled_series_and_no_trials_splits_in_blocks(tmp_path):
    rng = np.random.default_rng(2)
    nwb = _nwbfile()
    _spikes(rng, nwb)
    vel = rng.normal(size=(500, 2))
    nwb.add_acquisition(TimeSeries(name="finger_vel", data=vel, starting_time=1.0, rate=50.0, unit="cm/s"))
    _write(nwb, tmp_path / "r.nwb")
    rec = load_recording(import_from_spec(dict(path="r.nwb"), tmp_path / "o", base_dir=tmp_path)[0])
    np.testing.assert_allclose(rec.behaviour.timestamps, 1.0 + np.arange(500) / 50.0)
    np.testing.assert_allclose(rec.behaviour.vel, vel)
    assert {"train", "valid", "test"} <= set(rec.splits)


def _expect(tmp_path, spec, *fragments):
    with pytest.raises(DataError) as err:
        import_from_spec(spec, tmp_path / "out", base_dir=tmp_path)
    text = str(err.value)
    for fragment in fragments:
        assert fragment in text, text
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing half-written
    return text


def test_malformed_nwb_files_give_clean_errors(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "text.nwb").write_text("not an nwb file")
    _expect(tmp_path, dict(path="text.nwb"), "text.nwb", "not a readable NWB file")
    with h5py.File(tmp_path / "plain.nwb", "w") as f:
        f["x"] = np.zeros(3)
    _expect(tmp_path, dict(path="plain.nwb"), "plain.nwb", "not a readable NWB file")

    nwb = _nwbfile()  # no units table
    nwb.add_acquisition(TimeSeries(name="hand_vel", data=np.zeros((10, 2)), rate=10.0, unit="m/s"))
    _write(nwb, tmp_path / "nounits.nwb")
    _expect(tmp_path, dict(path="nounits.nwb"), "nounits.nwb", "no units table with spike_times")

    mc_maze_like(tmp_path / "maze.nwb", rng)
    _expect(tmp_path, dict(path="maze.nwb", behaviour_series="behavior/joystick"),
            "no time series 'behavior/joystick'", "behavior/hand_vel", "behaviour_series")
    _expect(tmp_path, dict(path="maze.nwb", behaviour_kind="position"),
            "cannot tell which time series", "behavior/cursor_pos", "behavior/hand_pos")
    _expect(tmp_path, dict(path="maze.nwb", label_column="direction"),
            "no column 'direction'", "label_column", "target_id")
    nwb = _nwbfile()
    _spikes(rng, nwb)
    _trials(nwb, splits=("train", "holdout", "val", "train", "val"))
    _write(nwb, tmp_path / "odd_split.nwb")
    _expect(tmp_path, dict(path="odd_split.nwb", split_column="split", split_names={"val": "test"}),
            "Trials.split in", "odd_split.nwb", "'holdout'", "expected train, valid or test")
    _expect(tmp_path, dict(path="maze.nwb", valid_column="outcome"), "no column 'outcome'", "valid_column")
    _expect(tmp_path, dict(path="maze.nwb", layout="trials", bin_size_s=0.02), "layout must be 'spikes'")


def test_trial_valid_flags_in_the_spikes_layout():
    """The canonical 'trial_valid' (what valid_column reads) from any reader: booleans or 0/1, one per trial."""
    from bench.data.importers import import_arrays

    arrays = {"spike_times": np.array([0.1, 0.5, 1.2, 2.5]), "spike_units": np.array([0, 1, 0, 1]),
              "trial_start": np.array([2.0, 0.0]), "trial_end": np.array([2.9, 1.5])}
    rec = import_arrays({**arrays, "trial_valid": np.array([1, 0])})
    np.testing.assert_array_equal(rec.trials.is_valid, [False, True])  # sorted by start with their trials
    with pytest.raises(DataError, match="trial_valid.*true / false"):
        import_arrays({**arrays, "trial_valid": np.array([2, 0])})
    with pytest.raises(DataError, match="trial_valid.*need trials"):
        import_arrays({k: v for k, v in arrays.items() if not k.startswith("trial")} | {"trial_valid": np.array([1])})
