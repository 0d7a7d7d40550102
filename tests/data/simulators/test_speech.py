"""The speech simulator: deterministic, cached by parameters, the layout and statistics the task needs."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.phonemes import N_CLASSES, SIL
from bench.data.simulators.speech import DaySpec, SpeechSimulatorParams, SpeechSimulatorSource, simulate_day
from bench.data.simulators.speech.neural import REST, make_participant
from bench.data.storage import load_recording


@pytest.fixture(scope="module")
def day():
    return simulate_day(DaySpec("t12_test", 1, 0, n_blocks=3, trials_per_block=4))


def test_layout_streams_splits_and_labels(day):
    assert day.features["threshold_crossings"].values.shape[1] == 256
    assert day.features["spike_band_power"].kind == "continuous"
    assert day.features["threshold_crossings"].bin_s == pytest.approx(0.02)
    assert day.events_from == "threshold_crossings"  # crossings as events for spike-token models
    tr = day.trials
    assert len(tr) == 12
    durations = tr.end - tr.start
    assert durations.min() >= 2.0 and durations.max() <= 16.0
    for i in range(len(tr)):
        seq = tr.label_sequence(i)
        assert seq.size > 0 and seq.min() >= 1 and seq.max() < N_CLASSES and seq[-1] == SIL
        assert len(tr.sentence[i].split()) == np.count_nonzero(seq == SIL)  # one SIL per word
    # the last block is the test block
    test = day.splits["test"]
    assert len(test) == 4 and np.allclose(np.sort(test.start), np.sort(tr.start)[-4:])


def test_deterministic_and_days_differ(day):
    again = simulate_day(DaySpec("t12_test", 1, 0, n_blocks=3, trials_per_block=4))
    np.testing.assert_array_equal(again.features["threshold_crossings"].values,
                                  day.features["threshold_crossings"].values)
    other = simulate_day(DaySpec("t12_other", 2, 0, n_blocks=3, trials_per_block=4))
    assert other.trials.sentence[0] != day.trials.sentence[0]


def test_speech_modulates_6v_more_than_44(day):
    """6v electrodes change their rate between speech and rest far more than area 44 electrodes."""
    x = day.features["threshold_crossings"].values
    t = (np.arange(x.shape[0]) + 0.5) * 0.02
    speaking = np.zeros(x.shape[0], bool)
    for s, e in zip(day.trials.start, day.trials.end):
        speaking |= (t >= s + 0.9) & (t < e - 0.5)
    mod = np.abs(x[speaking].mean(0) - x[~speaking].mean(0)) / (x.mean(0) + 1e-3)
    assert mod[:128].mean() > 3 * mod[128:].mean()


def test_spike_band_power_correlates_with_crossings(day):
    x, p = day.features["threshold_crossings"].values, day.features["spike_band_power"].values
    r = [np.corrcoef(x[:, c], p[:, c])[0, 1] for c in range(0, 128, 8)]
    assert np.median(r) > 0.1


def test_participant_targets():
    p = make_participant(np.random.default_rng(0))
    assert p.targets.shape[0] == N_CLASSES + 1 and np.all(p.targets[REST] == 0)


def test_source_caches_by_parameters(tmp_path):
    params = SpeechSimulatorParams(n_days=1, n_blocks=2, trials_per_block=2)
    src = SpeechSimulatorSource(params, cache_dir=tmp_path)
    paths = src.materialize(progress=False)
    assert len(paths) == 1 and paths[0].is_file()
    stamp = paths[0].stat().st_mtime_ns
    assert SpeechSimulatorSource(params, cache_dir=tmp_path).materialize(progress=False) == paths
    assert paths[0].stat().st_mtime_ns == stamp  # reused, not regenerated
    other = SpeechSimulatorSource(SpeechSimulatorParams(n_days=1, n_blocks=2, trials_per_block=2, seed=1),
                                  cache_dir=tmp_path)
    assert other.folder != src.folder
    rec = load_recording(paths[0])
    assert rec.trials.labels is not None and rec.trials.sentence is not None
