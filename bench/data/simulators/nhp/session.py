"""Assembly of one simulated session: behaviour -> latents -> rates -> spikes -> ``Recording``.

Every random draw comes from a generator seeded by (seed, preset, session index, purpose), so a
session is identical whenever it is regenerated, whatever else was generated before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from threadpoolctl import threadpool_limits

from bench.data.intervals import Intervals
from bench.data.recording import Behaviour, Recording, Trials, split_trials
from bench.data.simulators.nhp import behaviour as beh
from bench.data.simulators.nhp.dynamics import animal_dynamics, latent_factors
from bench.data.simulators.nhp.neurons import (
    PRIVATE_GAIN,
    SHARED_GAIN,
    SessionTuning,
    animal_pool,
    firing_rates,
    ou_process,
    recorded_units,
    session_tuning,
    slow_gain,
)
from bench.data.simulators.nhp.presets import EPOCH, Preset, Scale, pool_size, stable_hash
from bench.data.simulators.nhp.spikes import sample_spikes

UNIT_CHUNK = 48  # neurons whose rates are held in memory at once (bounds memory at paper scale)


@dataclass(frozen=True)
class SessionSpec:
    """Everything that determines one session's content."""

    preset: Preset
    index: int
    day: date
    session_id: str
    scale: Scale
    seed: int
    n_trials: int
    n_neurons: int | None  # None: the preset's size with a +-12% per-session spread


def _rng(spec: SessionSpec, purpose: str) -> np.random.Generator:
    return np.random.default_rng([spec.seed, stable_hash(spec.preset.name), spec.index, stable_hash(purpose)])


def _schedule(spec: SessionSpec) -> beh.Schedule:
    rng = _rng(spec, "behaviour")
    if spec.preset.task == "center_out":
        return beh.centre_out_schedule(spec.n_trials, rng)
    return beh.random_target_schedule(spec.n_trials, rng)


def _n_units(spec: SessionSpec) -> int:
    """Units recorded this session: the override, else the preset's size +-12% (arrays lose and
    gain units from day to day)."""
    if spec.n_neurons is not None:
        return spec.n_neurons
    spread = _rng(spec, "n_units").uniform(0.88, 1.12)
    return int(round(spec.preset.n_units(spec.scale) * spread))


def _spikes(
    spec: SessionSpec, tuning: SessionTuning, hand_vel: np.ndarray, hand_pos: np.ndarray, latents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rates and spikes, a chunk of neurons at a time; returns time-sorted (times, unit index)."""
    n_units, n_samples = tuning.rate.size, hand_vel.shape[0]
    gain_rng, spike_rng = _rng(spec, "gain"), _rng(spec, "spikes")
    shared = ou_process(1, n_samples, SHARED_GAIN[0], gain_rng)
    times, units = [], []
    for lo in range(0, n_units, UNIT_CHUNK):
        part = tuning.subset(slice(lo, min(lo + UNIT_CHUNK, n_units)))
        gain = slow_gain(shared, ou_process(part.rate.size, n_samples, PRIVATE_GAIN[0], gain_rng))
        rates = firing_rates(part, hand_vel, hand_pos, latents, gain)
        rates = np.concatenate([rates, rates[:, -1:]], axis=1)  # cover the last sample period too
        t, u = sample_spikes(rates, 0.0, beh.DT, spike_rng)
        times.append(t)
        units.append(u + lo)
    t, u = np.concatenate(times), np.concatenate(units)
    order = np.argsort(t, kind="stable")
    return t[order], u[order]


def _intervals(pairs: list[tuple[float, float]]) -> Intervals:
    if not pairs:
        return Intervals.empty()
    a = np.asarray(pairs, np.float64)
    return Intervals(a[:, 0], a[:, 1])


def simulate_session(spec: SessionSpec) -> Recording:
    """Generate one session as a ``Recording`` (brainsets layout, cursor at 100 Hz).

    BLAS runs single-threaded here: the products are small, and on a busy machine extra
    threads make them several times slower rather than faster."""
    with threadpool_limits(1):
        return _simulate(spec)


def _simulate(spec: SessionSpec) -> Recording:
    """Behaviour first, then the neurons driven by the same reaches, then the file's fields."""
    preset = spec.preset
    sched = _schedule(spec)
    n_samples = int(np.ceil(sched.duration / beh.DT))
    hand_pos = beh.hand_trajectory(sched.moves, n_samples) + beh.postural_drift(n_samples, _rng(spec, "drift"))
    hand_vel = np.gradient(hand_pos, beh.DT, axis=0)

    seed_animal = [spec.seed, stable_hash("animal/" + preset.animal)]
    dyn = animal_dynamics(np.random.default_rng(seed_animal))
    latents = latent_factors(sched.moves, n_samples, dyn, _rng(spec, "latents"))
    n_units = _n_units(spec)
    pool = animal_pool(preset.animal, pool_size(preset.animal, spec.scale, spec.n_neurons), spec.seed)
    day = (spec.day - EPOCH).days
    units = recorded_units(pool, day, n_units, _rng(spec, "units"))
    tuning = session_tuning(pool, units, day, preset.quality)
    spike_times, spike_units = _spikes(spec, tuning, hand_vel, hand_pos, latents)

    cursor_pos, glitches = beh.cursor_glitches(sched, hand_pos, _rng(spec, "glitches"))
    timestamps = np.arange(n_samples) * beh.DT
    trials = Trials(
        start=np.asarray(sched.trial_start),
        end=np.asarray(sched.trial_end),
        target_id=np.asarray(sched.target_id, np.int64),
        is_valid=np.asarray(sched.is_valid, bool),
    )
    phases = {name: _intervals(pairs) for name, pairs in sched.phases.items()}
    phases["invalid"] = trials.as_intervals(~trials.is_valid)
    return Recording(
        recording_id=spec.session_id,
        subject_id=preset.animal,
        brainset=preset.name,
        task_type=preset.task,
        domain=Intervals.single(0.0, n_samples * beh.DT),
        spike_times=spike_times,
        spike_units=spike_units,
        unit_ids=np.array([f"{preset.animal}/n{k:04d}" for k in units]),
        behaviour=Behaviour(
            name="cursor", timestamps=timestamps, vel=np.gradient(cursor_pos, beh.DT, axis=0), pos=cursor_pos
        ),
        trials=trials,
        phases=phases,
        outliers=_intervals(glitches),
        splits=split_trials(trials, (0.7, 0.1, 0.2), seed=42),
    )
