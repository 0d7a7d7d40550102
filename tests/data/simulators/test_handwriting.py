"""The handwriting simulator: file layout, determinism, cache, glyphs, physiology, drift, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.data.letters import CHARACTERS, STREAM, go_cues
from bench.data.simulators.handwriting import (
    HandwritingSimulatorParams,
    HandwritingSimulatorSource,
    session_specs,
    simulate_session,
)
from bench.data.simulators.handwriting.glyphs import glyph_strokes, write_character
from bench.data.simulators.handwriting.population import drifted, participant
from bench.data.storage import load_recording
from bench.errors import DataError

SMALL = dict(n_sessions=2, trials_per_character=3, n_electrodes=24)


def small_session(index: int = 0, seed: int = 0, **over):
    return simulate_session(session_specs(HandwritingSimulatorParams(**{**SMALL, "seed": seed, **over}))[index])


def test_a_session_is_192_channel_crossings_at_10ms_with_one_trial_per_character_attempt():
    rec = simulate_session(session_specs(HandwritingSimulatorParams(n_sessions=1, trials_per_character=3))[0])
    stream = rec.features[STREAM]
    assert stream.kind == "counts" and stream.bin_s == 0.01 and stream.n_channels == 192
    assert rec.n_units == 192 and rec.events_from == STREAM  # spike-token models read crossings as events
    assert np.bincount(rec.trials.target_id, minlength=31).tolist() == [3] * len(CHARACTERS)
    go = go_cues(rec)
    assert np.allclose(go - rec.trials.start, 0.5) and np.allclose(rec.trials.end - rec.trials.start, 2.01)
    for split in ("train", "valid", "test"):  # stratified: every character in every split
        held = rec.split(split).contains(rec.trials.start)
        assert set(rec.trials.target_id[held]) == set(range(len(CHARACTERS)))


def test_deterministic_by_seed_and_different_across_seeds_and_days():
    a, b, c = small_session(), small_session(), small_session(seed=1)
    va = a.features[STREAM].values
    assert np.array_equal(va, b.features[STREAM].values)
    assert not np.array_equal(va, c.features[STREAM].values)
    assert not np.array_equal(va, small_session(index=1).features[STREAM].values)


def test_source_caches_files_keyed_by_parameters(tmp_path):
    params = HandwritingSimulatorParams(**SMALL)
    src = HandwritingSimulatorSource(params, cache_dir=tmp_path)
    paths = src.materialize(progress=False)
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert src.materialize(progress=False) == paths and [p.stat().st_mtime_ns for p in paths] == stamps
    other = HandwritingSimulatorSource(HandwritingSimulatorParams(**{**SMALL, "quality": 0.5}), cache_dir=tmp_path)
    assert other.folder != src.folder
    rec = load_recording(paths[0])
    assert rec.features[STREAM].n_channels == 24 and len(go_cues(rec)) == len(rec.trials)


def test_every_character_has_strokes_and_pen_up_travel_is_part_of_the_trajectory():
    for ch in CHARACTERS:
        assert sum(len(s) for s in glyph_strokes(ch)) >= 2
    assert len(glyph_strokes("i")) == 2  # the dot: a second stroke reached with the pen up
    rng = np.random.default_rng(0)
    v1, v2 = write_character("a", 80, 0.01, rng), write_character("a", 80, 0.01, rng)
    assert v1.shape == (80, 2) and not np.allclose(v1, v2)  # size, slant, jitter, warp differ per trial
    path = np.cumsum(v1, axis=0) * 0.01
    assert 0.5 < np.ptp(path[:, 1]) < 3.0  # about a centimetre-high letter
    o = np.cumsum(write_character("o", 80, 0.01, np.random.default_rng(1)), axis=0) * 0.01
    assert np.linalg.norm(o[-1] - o[0]) < 0.3 * np.ptp(o[:, 0])  # an 'o' closes on itself


def test_rates_and_fano_factors_in_the_range_of_threshold_crossings():
    rec = simulate_session(session_specs(HandwritingSimulatorParams(n_sessions=1, trials_per_character=3))[0])
    v = rec.features[STREAM].values
    rates = v.mean(axis=0) / 0.01
    assert 5 < np.median(rates) < 40 and rates.max() < 300
    per_trial = v[:20100].reshape(-1, 201, 192).sum(axis=1)  # same-length trials, counts per trial
    fano = per_trial.var(axis=0) / np.maximum(per_trial.mean(axis=0), 1e-9)
    assert np.median(fano[per_trial.mean(axis=0) > 5]) > 1.0


def test_day_drift_changes_baselines_and_loses_electrodes():
    base = participant(192, 0)
    later = drifted(base, 8, np.random.default_rng(0), 1.0)
    assert not np.allclose(base.baseline_hz, later.baseline_hz)
    assert (~later.alive).sum() > (~drifted(base, 0, np.random.default_rng(0), 1.0).alive).sum()


def test_too_few_trials_per_character_is_refused():
    with pytest.raises(DataError, match="trials_per_character.*at least 3"):
        session_specs(HandwritingSimulatorParams(trials_per_character=2))


def test_simstats_report_on_simulated_and_imported_layouts():
    from bench.data.simulators.handwriting.stats import format_report, session_stats, stats_table

    rec = small_session()
    s = session_stats(rec)
    assert s["electrodes"] == 24 and s["characters"] == 31 and s["trials"] == 93
    assert abs(s["go cue to trial end (s)"] - 1.51) < 1e-6 and 0.4 < s["writing duration (s)"] < 1.3
    assert 0.1 < s["reaction time (s)"] < 0.3 and s["Fano 100 ms"] > 1.0
    no_pen = session_stats(replace(rec, behaviour=None, _views={}))  # an imported file has no pen
    assert "writing duration (s)" not in no_pen and no_pen["trials"] == 93
    table = stats_table([rec])
    assert table.loc["electrodes", "published"] == "192" and "Willett" in format_report(table)
