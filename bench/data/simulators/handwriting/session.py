"""One simulated handwriting session: a participant's drifted electrodes, a shuffled run of
character trials in blocks, pen trajectories, crossings -> the same ``Recording`` an imported
``singleLetters.mat`` becomes (``bench.data.letters``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from bench.data.letters import CHARACTERS, LetterTrial, letters_recording
from bench.data.simulators.handwriting.glyphs import glyph_length, write_character
from bench.data.simulators.handwriting.population import drifted, onset_profile, participant, rates
from bench.data.simulators.nhp.presets import stable_hash

BIN_S = 0.01
PRE_GO_S = 0.5  # the end of the instructed delay kept before the go cue (as the data's cubes)
TRIAL_BINS = 201  # 2.01 s per trial, go cue at bin 50
TRIALS_PER_BLOCK = 62  # each block shows every character about twice
MAX_WRITE_S = 1.25


@dataclass(frozen=True)
class HandwritingSessionSpec:
    """Everything that determines one session's content."""

    session_id: str
    index: int  # days since the first session, in sessions (drift grows with it)
    seed: int
    n_electrodes: int
    trials_per_character: int
    quality: float
    trial_gain_sd: float  # per-trial, per-electrode log gain SD: Fano factors above 1


def _rng(spec: HandwritingSessionSpec, purpose: str) -> np.random.Generator:
    return np.random.default_rng([spec.seed, spec.index, stable_hash(purpose)])


def writing_seconds(char: str, rng: np.random.Generator) -> float:
    """Time to write one character: longer paths take longer; the writing speed varies by trial."""
    return float(min((0.45 + 0.09 * glyph_length(char)) * np.exp(rng.normal(0, 0.12)), MAX_WRITE_S))


def simulate_trials(spec: HandwritingSessionSpec) -> list[LetterTrial]:
    """The session's trials in the order they were run (shuffled; blocks shift the baselines)."""
    elec = drifted(participant(spec.n_electrodes, spec.seed), spec.index, _rng(spec, "drift"), spec.quality)
    order_rng, write_rng, noise_rng = _rng(spec, "order"), _rng(spec, "writing"), _rng(spec, "crossings")
    labels = np.repeat(np.arange(len(CHARACTERS)), spec.trials_per_character)
    labels = order_rng.permutation(labels)
    go_bin = int(round(PRE_GO_S / BIN_S))
    trials = []
    for k, c in enumerate(labels):
        if k % TRIALS_PER_BLOCK == 0:  # each block starts from a slightly shifted baseline
            block_gain = np.exp(noise_rng.normal(0, 0.05, spec.n_electrodes))
        reaction = int(round(write_rng.uniform(0.15, 0.25) / BIN_S))
        n_write = int(round(writing_seconds(CHARACTERS[c], write_rng) / BIN_S))
        velocity = np.zeros((TRIAL_BINS, 2))
        velocity[go_bin + reaction : go_bin + reaction + n_write] = write_character(CHARACTERS[c], n_write, BIN_S, write_rng)
        onset = onset_profile(TRIAL_BINS, go_bin, reaction, BIN_S)
        shared = noise_rng.normal(0, spec.trial_gain_sd / 2)
        gain = block_gain * np.exp(shared + noise_rng.normal(0, spec.trial_gain_sd, spec.n_electrodes))
        lam = rates(elec, velocity, onset, BIN_S, gain)
        counts = noise_rng.poisson(lam * BIN_S)
        trials.append(LetterTrial(int(c), counts.astype(np.float32), go_bin, velocity))
    return trials


def simulate_session(spec: HandwritingSessionSpec, brainset: str = "handwriting_sim"):
    """Generate one session as a ``Recording`` (single-threaded BLAS: small products)."""
    with threadpool_limits(1):
        trials = simulate_trials(spec)
    return letters_recording(trials, spec.session_id, "t5_sim", brainset, f"simulated session {spec.session_id}", BIN_S)
