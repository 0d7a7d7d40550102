"""Assembly of one simulated speech day: blocks of sentences -> latent -> features -> ``Recording``.

Every random draw comes from a generator seeded by (seed, day, purpose), so a day is identical
whenever it is regenerated. The last block of each day is the test block (the original data
partition); every tenth trial of the other blocks is held out for validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data.intervals import Intervals
from bench.data.recording import FeatureStream, Recording, Trials
from bench.data.simulators.nhp.presets import stable_hash
from bench.data.simulators.speech import neural
from bench.data.simulators.speech.presets import BIN_S
from bench.data.simulators.speech.sentences import speak_sentence

FINE_PER_BIN = 4  # 5 ms steps for the timing of phonemes inside 20 ms bins
ITI_S, BLOCK_GAP_S = 1.0, 4.0
VALID_EVERY = 10


@dataclass(frozen=True)
class DaySpec:
    session_id: str
    day_index: int
    seed: int
    n_blocks: int
    trials_per_block: int


def _rng(seed: int, day: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng([seed, day, stable_hash(purpose)])


def simulate_day(spec: DaySpec) -> Recording:
    participant = neural.make_participant(_rng(spec.seed, 0, "participant"))
    day = neural.day_tuning(participant, spec.day_index, lambda d: _rng(spec.seed, d, "day"))
    rng = _rng(spec.seed, spec.day_index, "sentences")
    sentences, starts, blocks = [], [], []
    t = 1.0
    for b in range(spec.n_blocks):
        for _ in range(spec.trials_per_block):
            s = speak_sentence(rng)
            sentences.append(s), starts.append(t), blocks.append(b)
            t += s.duration + ITI_S
        t += BLOCK_GAP_S
    n_bins = int(np.ceil(t / BIN_S))
    fine_s = BIN_S / FINE_PER_BIN
    fine = np.full(n_bins * FINE_PER_BIN, neural.REST, np.int64)
    for s, t0 in zip(sentences, starts):
        fine[int(round(t0 / fine_s)) : int(round((t0 + s.duration) / fine_s))] = neural.N_CLASSES - 1  # SIL
        for onset, dur, c in zip(s.onsets, s.durations, s.classes):
            fine[int(round((t0 + onset) / fine_s)) : int(round((t0 + onset + dur) / fine_s))] = c
    latent = neural.latent_path(fine, participant, FINE_PER_BIN)
    crossings, sbp = neural.features(latent, participant, day, _rng(spec.seed, spec.day_index, "features"))
    ids = neural.channel_ids()
    streams = {
        "threshold_crossings": FeatureStream("threshold_crossings", BIN_S, 0.0, crossings, ids, "counts"),
        "spike_band_power": FeatureStream("spike_band_power", BIN_S, 0.0, sbp, ids, "continuous"),
    }
    start = np.asarray(starts)
    end = start + np.array([s.duration for s in sentences])
    blocks_arr = np.asarray(blocks)
    labels = np.full((len(sentences), max(len(s.labels) for s in sentences)), -1, np.int64)
    for i, s in enumerate(sentences):
        labels[i, : len(s.labels)] = s.labels
    trials = Trials(start, end, np.full(start.size, -1, np.int64), np.ones(start.size, bool), labels,
                    np.array([s.text for s in sentences]))
    test = blocks_arr == spec.n_blocks - 1
    valid = ~test & (np.arange(start.size) % VALID_EVERY == VALID_EVERY - 1)
    train = ~test & ~valid
    return Recording(
        recording_id=spec.session_id,
        subject_id="t12_sim",
        brainset="speech_simulator",
        task_type="unknown",
        domain=Intervals.single(0.0, n_bins * BIN_S),
        spike_times=np.zeros(0),
        spike_units=np.zeros(0, np.int64),
        unit_ids=np.zeros(0, str),
        trials=trials,
        splits={k: Intervals(start[m], end[m]) for k, m in (("train", train), ("valid", valid), ("test", test))},
        features=streams,
    )
