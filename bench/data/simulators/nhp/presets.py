"""Presets: the POSSM paper's NHP reaching datasets, re-created as simulated animals and sessions.

Each preset names one animal (its neuron pool is shared by every preset of that animal), one task
and the paper's number of sessions. Sizes come in two scales: ``default`` (small, so that a whole
benchmark trains in minutes on a laptop CPU) and ``paper`` (sizes like the real recordings).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np

Scale = Literal["default", "paper"]
TaskType = Literal["center_out", "random_target"]

_TRIALS = {"center_out": {"default": 120, "paper": 500}, "random_target": {"default": 60, "paper": 230}}
# An animal's pool holds this many times the units of a typical session, so that two sessions
# share a good part, but not all, of their units (as electrode arrays drift over days).
POOL_FACTOR = 1.6


@dataclass(frozen=True)
class Preset:
    """One simulated dataset: an animal, a task and a run of recording days."""

    name: str
    animal: str
    task: TaskType
    n_sessions: int
    first_day: date
    units: tuple[int, int]  # typical units per session at the default and paper scales
    quality: float  # tuning-depth multiplier: how well the array's units encode the reach

    def n_units(self, scale: Scale) -> int:
        return self.units[0] if scale == "default" else self.units[1]

    def n_trials(self, scale: Scale) -> int:
        return _TRIALS[self.task][scale]

    def session_days(self, n_sessions: int) -> list[date]:
        """Recording days: gaps of 1-9 days, fixed per preset (independent of the seed) so that
        session ids are stable names."""
        rng = np.random.default_rng(stable_hash(self.name))
        gaps = rng.integers(1, 10, size=max(n_sessions - 1, 0))
        days = [self.first_day]
        for g in gaps:
            days.append(days[-1] + timedelta(days=int(g)))
        return days

    def session_ids(self, n_sessions: int) -> list[str]:
        return [f"{self.name}/{self.animal}_{d:%Y%m%d}" for d in self.session_days(n_sessions)]


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # Dataset difficulty follows the paper's ranking (C-CO 2016 easiest, H-CO hardest).
        Preset("c_co_2016", "c", "center_out", 2, date(2016, 10, 4), (85, 170), 1.2),
        Preset("c_co_2010", "c", "center_out", 5, date(2010, 3, 2), (65, 120), 0.8),
        Preset("t_co", "t", "center_out", 6, date(2013, 8, 19), (70, 120), 1.0),
        Preset("t_rt", "t", "random_target", 6, date(2013, 8, 20), (70, 120), 0.8),
        Preset("h_co", "h", "center_out", 1, date(2017, 5, 11), (80, 150), 0.9),
    )
}
PresetName = Literal["c_co_2016", "c_co_2010", "t_co", "t_rt", "h_co"]
EPOCH = date(2010, 1, 1)  # day 0 of the slow across-day drift of every neuron


def pool_size(animal: str, scale: Scale, n_neurons: int | None = None) -> int:
    """Neurons in an animal's pool at this scale: enough for its largest sessions, and the same
    for every preset of the animal (neuron k is the same cell whatever the pool size)."""
    typical = max(p.n_units(scale) for p in PRESETS.values() if p.animal == animal)
    if n_neurons is not None:
        typical = max(typical, n_neurons)
    return int(np.ceil(POOL_FACTOR * typical * 1.15))


def stable_hash(text: str) -> int:
    """A seed component from a name that, unlike hash(), is the same in every process."""
    return zlib.crc32(text.encode())
