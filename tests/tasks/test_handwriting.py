"""The handwriting_character task: one segment per trial read out after the go cue; scores."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.data.letters import CHARACTERS, go_cues
from bench.data.simulators.handwriting import HandwritingSimulatorParams, session_specs, simulate_session
from bench.errors import DataError
from bench.tasks.handwriting import HandwritingCharacter


@pytest.fixture(scope="module")
def rec():
    return simulate_session(session_specs(HandwritingSimulatorParams(n_sessions=1, trials_per_character=3,
                                                                     n_electrodes=16))[0])


def test_one_segment_per_trial_read_out_at_the_trial_end(rec):
    data = HandwritingCharacter().prepare(rec, 0.05)
    segs = [s for split in ("train", "valid", "test") for s in data.segments(split)]
    assert len(segs) == len(rec.trials) and data.spec.dim == len(CHARACTERS)
    ends = {round(t, 6) for t in rec.trials.end}
    for s in segs:
        assert s.query_times.size == 1 and s.end - 1e-6 <= s.query_times[0] < s.end
        assert round(s.end, 6) in ends or any(abs(s.end - e) < 0.05 for e in ends)


def test_declared_readout_after_the_go_cue(rec):
    data = HandwritingCharacter(HandwritingCharacter.Params(readout_s=1.0)).prepare(rec, 0.01)
    go = go_cues(rec)
    seg = data.segments("train")[0]
    i = int(np.flatnonzero(np.isclose(rec.trials.start, seg.start))[0])
    assert abs(seg.end - (go[i] + 1.0)) < 1e-6 and int(seg.targets[0]) == rec.trials.target_id[i]
    with pytest.raises(DataError, match="readout_s=1.6 s after the go cue falls after the end of trial"):
        HandwritingCharacter(HandwritingCharacter.Params(readout_s=1.6)).prepare(rec, 0.01)


def test_scores_accuracy_balanced_accuracy_and_confusion(rec):
    task = HandwritingCharacter()
    test = task.prepare(rec, 0.05).segments("test")
    perfect = [np.eye(len(CHARACTERS))[s.targets] for s in test]
    m = task.score(test, perfect)
    assert m["accuracy"] == 1.0 and m["balanced_accuracy"] == 1.0
    conf = np.array(m["confusion"])
    assert conf.shape == (31, 31) and conf.trace() == len(test) == m["n_samples"]
    wrong = [np.eye(len(CHARACTERS))[(s.targets + 1) % 31] for s in test]
    m = task.score(test, wrong)
    assert m["accuracy"] == 0.0 and np.array(m["confusion"]).trace() == 0


def test_a_recording_without_go_cues_is_refused(rec):
    with pytest.raises(DataError, match="reach_period.*go cue"):
        HandwritingCharacter().prepare(replace(rec, phases={}, _views={}), 0.05)


def test_segments_start_at_a_declared_time_after_the_go_cue(rec):
    go = go_cues(rec)
    data = HandwritingCharacter(HandwritingCharacter.Params(start_s=0.0)).prepare(rec, 0.05)
    whole = HandwritingCharacter().prepare(rec, 0.05)
    for cropped, full in zip(data.segments("train"), whole.segments("train")):
        i = int(np.argmin(np.abs(rec.trials.start - full.start)))
        # the end, the query and the label are those of the whole trial; only the start moves
        assert cropped.start >= go[i] - 1e-6 and cropped.start - go[i] < 0.05 + 1e-6
        assert cropped.end == full.end and np.array_equal(cropped.query_times, full.query_times)
        assert np.array_equal(cropped.targets, full.targets)
    with pytest.raises(DataError, match=r"start_s=-0.6 s after the go cue falls outside trial \d+"):
        HandwritingCharacter(HandwritingCharacter.Params(start_s=-0.6)).prepare(rec, 0.05)
    with pytest.raises(DataError, match=r"start_s=1.2 s .* before the readout"):
        HandwritingCharacter(HandwritingCharacter.Params(start_s=1.2, readout_s=1.0)).prepare(rec, 0.05)
