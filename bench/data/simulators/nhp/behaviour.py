"""Behaviour: the task timeline (trials, phases, reaches) and the cursor trajectory it produces.

A session is first laid out as a list of reaches (``Movements``): when the target became known,
when the hand started moving, for how long, and where it went. The same list drives both the
cursor (minimum-jerk reaches with trial-to-trial variability) and the neural latents
(``dynamics``), so neural activity and behaviour share one cause, as in a real animal.
Units: seconds, centimetres, cm/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DT = 0.01  # behaviour sampling period (100 Hz, as brainsets' Perich cursor data)
CO_RADIUS = 8.0  # centre-out target distance, cm
CO_TARGETS = 8
RT_HALF_WIDTH = 9.0  # random-target workspace: a square of +-9 cm
RT_TARGETS_PER_TRIAL = 4
FAIL_RATE = 0.05


@dataclass
class Movements:
    """Reaches as parallel arrays (one entry per reach, outward, return or corrective)."""

    cue: list[float] = field(default_factory=list)  # target became known (s)
    onset: list[float] = field(default_factory=list)  # hand starts moving (s)
    duration: list[float] = field(default_factory=list)  # s
    displacement: list[np.ndarray] = field(default_factory=list)  # actual endpoint - start (cm)
    curvature: list[float] = field(default_factory=list)  # sideways bulge, fraction of distance

    def add(self, cue: float, onset: float, duration: float, displacement: np.ndarray, curvature: float) -> None:
        self.cue.append(cue)
        self.onset.append(onset)
        self.duration.append(duration)
        self.displacement.append(np.asarray(displacement, np.float64))
        self.curvature.append(curvature)

    def __len__(self) -> int:
        return len(self.onset)

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(
            cue=np.asarray(self.cue),
            onset=np.asarray(self.onset),
            duration=np.asarray(self.duration),
            displacement=np.asarray(self.displacement).reshape(-1, 2),
            curvature=np.asarray(self.curvature),
        )


@dataclass
class Schedule:
    """The task timeline of one session."""

    task: str
    trial_start: list[float] = field(default_factory=list)
    trial_end: list[float] = field(default_factory=list)
    target_id: list[int] = field(default_factory=list)
    is_valid: list[bool] = field(default_factory=list)
    phases: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    moves: Movements = field(default_factory=Movements)
    duration: float = 0.0

    def phase(self, name: str, start: float, end: float) -> None:
        if end > start:
            self.phases.setdefault(name, []).append((start, end))

    def trial(self, start: float, end: float, target: int, valid: bool) -> None:
        self.trial_start.append(start)
        self.trial_end.append(end)
        self.target_id.append(target)
        self.is_valid.append(valid)


# ----------------------------------------------------------------------------- reach variability


def _reach_duration(distance: float, rng: np.random.Generator) -> float:
    """Duration grows with distance (Fitts-like) and varies ~12% between trials, which spreads
    peak speeds over roughly 20-40 cm/s for 8 cm reaches."""
    nominal = 0.22 + 0.03 * distance
    return float(np.clip(nominal * rng.lognormal(0.0, 0.12), 0.22, 0.9))


def _reaction_time(rng: np.random.Generator, mean: float = 0.27) -> float:
    return float(np.clip(rng.normal(mean, 0.045), 0.17, 0.42))


def _curvature(rng: np.random.Generator) -> float:
    """Slightly curved paths: a sideways bulge of a few percent of the reach distance."""
    return float(rng.normal(0.0, 0.05))


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


# ----------------------------------------------------------------------------- centre-out


def centre_out_schedule(n_trials: int, rng: np.random.Generator) -> Schedule:
    """Centre-out trials: centre hold (target shown partway), go cue, reaction time, reach to one
    of 8 targets, hold there, return to the centre. About 5% of trials fail (no movement, or a
    short reach in a wrong direction) and are marked invalid."""
    sched = Schedule(task="center_out")
    t = 0.3
    pos = np.zeros(2)  # where the hand actually is (returns land near, not exactly at, the centre)
    for _ in range(n_trials):
        target = int(rng.integers(CO_TARGETS))
        angle = 2 * np.pi * target / CO_TARGETS
        target_pos = CO_RADIUS * np.array([np.cos(angle), np.sin(angle)])
        start = t
        target_on = start + rng.uniform(0.05, 0.2)
        go = target_on + rng.uniform(0.2, 0.5)
        sched.phase("hold_period", start, go)
        failed = rng.random() < FAIL_RATE
        onset = go + _reaction_time(rng)
        if failed and rng.random() < 0.3:  # no movement: the trial times out
            end = go + rng.uniform(0.6, 0.9)
            sched.phase("reach_period", go, end)
            sched.trial(start, end, target, False)
            t = end + rng.uniform(0.05, 0.15)
            continue
        if failed:  # a short reach in a wrong direction, then straight back
            goal = _rotate(target_pos, rng.choice([-1, 1]) * rng.uniform(0.45, 1.0)) * rng.uniform(0.4, 0.8)
        else:
            goal = target_pos + rng.normal(0.0, 0.35, 2)
        disp = goal - pos
        dur = _reach_duration(float(np.linalg.norm(disp)), rng)
        sched.moves.add(target_on, onset, dur, disp, _curvature(rng))
        reach_end = onset + dur
        pos = goal
        if not failed and rng.random() < 0.25:  # small corrective submovement, overlapping the end
            fix = target_pos + rng.normal(0.0, 0.15, 2) - pos
            c_on = reach_end - rng.uniform(0.0, 0.08)
            c_dur = float(rng.uniform(0.15, 0.25))
            sched.moves.add(c_on - 0.1, c_on, c_dur, fix, 0.0)
            reach_end = max(reach_end, c_on + c_dur)
            pos = pos + fix
        sched.phase("reach_period", go, reach_end)
        hold_end = reach_end + (rng.uniform(0.2, 0.35) if not failed else rng.uniform(0.05, 0.15))
        sched.phase("hold_period", reach_end, hold_end)
        back = rng.normal(0.0, 0.25, 2) - pos
        r_on = hold_end + rng.uniform(0.05, 0.15)
        r_dur = _reach_duration(float(np.linalg.norm(back)), rng) * 1.1  # returns are a bit slower
        sched.moves.add(hold_end, r_on, r_dur, back, _curvature(rng))
        pos = pos + back
        end = r_on + r_dur
        sched.phase("return_period", hold_end, end)
        sched.trial(start, end, target, not failed)
        t = end + rng.uniform(0.05, 0.15)
    sched.duration = t + 0.3
    return sched


# ----------------------------------------------------------------------------- random target


def _random_target(pos: np.ndarray, rng: np.random.Generator, min_distance: float = 4.0) -> np.ndarray:
    """A target anywhere in the workspace, at least ``min_distance`` from the hand."""
    while True:
        cand = rng.uniform(-RT_HALF_WIDTH, RT_HALF_WIDTH, 2)
        if np.linalg.norm(cand - pos) >= min_distance:
            return cand


def random_target_schedule(n_trials: int, rng: np.random.Generator) -> Schedule:
    """Random-target trials: a short hold, then 4 targets in a row anywhere in the workspace, each
    reached after a reaction time and held briefly. Failed trials (~5%) stop early after a
    reach that misses its target."""
    sched = Schedule(task="random_target")
    t = 0.3
    pos = np.zeros(2)
    for _ in range(n_trials):
        start = t
        cue = first_cue = start + rng.uniform(0.2, 0.4)
        sched.phase("hold_period", start, cue)
        failed = rng.random() < FAIL_RATE
        n_targets = int(rng.integers(1, RT_TARGETS_PER_TRIAL)) if failed else RT_TARGETS_PER_TRIAL
        for k in range(n_targets):
            target = _random_target(pos, rng)
            miss = failed and k == n_targets - 1
            goal = pos + (target - pos) * rng.uniform(0.3, 0.7) if miss else target + rng.normal(0.0, 0.3, 2)
            onset = cue + _reaction_time(rng, mean=0.25)
            disp = goal - pos
            dur = _reach_duration(float(np.linalg.norm(disp)), rng)
            sched.moves.add(cue, onset, dur, disp, _curvature(rng))
            pos = goal
            cue = onset + dur + rng.uniform(0.1, 0.25)  # next target after a short hold
        end = cue
        sched.phase("random_period", first_cue, end)
        sched.trial(start, end, -1, not failed)
        t = end + rng.uniform(0.1, 0.3)
    sched.duration = t + 0.3
    return sched


# ----------------------------------------------------------------------------- trajectories


def _min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile on s in [0, 1]: bell-shaped speed, zero velocity and
    acceleration at both ends."""
    return s**3 * (10.0 - 15.0 * s + 6.0 * s**2)


def _bulge(s: np.ndarray) -> np.ndarray:
    """Sideways deviation profile, 0 with zero slope at both ends, 1 at mid-reach."""
    return 16.0 * s**2 * (1.0 - s) ** 2


def hand_trajectory(moves: Movements, n_samples: int) -> np.ndarray:
    """Hand position (n_samples, 2) at 100 Hz: the superposition of all reaches (overlapping
    corrective submovements blend, as in real hand paths)."""
    m = moves.arrays()
    pos = np.zeros((n_samples, 2))
    steps = np.zeros((n_samples + 1, 2))
    for onset, dur, disp, curv in zip(m["onset"], m["duration"], m["displacement"], m["curvature"]):
        i0 = int(np.ceil(onset / DT))
        i1 = min(int(np.ceil((onset + dur) / DT)), n_samples)
        if i0 >= n_samples:
            continue
        s = (np.arange(i0, i1) * DT - onset) / dur
        side = np.array([-disp[1], disp[0]]) * curv
        pos[i0:i1] += _min_jerk(s)[:, None] * disp + _bulge(s)[:, None] * side
        steps[i1] += disp
    return pos + np.cumsum(steps[:n_samples], axis=0)


def postural_drift(n_samples: int, rng: np.random.Generator, sd_cm: float = 0.12) -> np.ndarray:
    """Small smooth wandering of the hand (0.1 cm scale, ~150 ms smoothness), present at rest
    too, so that velocity is never exactly zero during holds."""
    from scipy.ndimage import gaussian_filter1d

    noise = gaussian_filter1d(rng.standard_normal((n_samples, 2)), sigma=15.0, axis=0, mode="nearest")
    return noise * (sd_cm / max(float(noise.std()), 1e-12))


def cursor_glitches(
    schedule: Schedule, pos: np.ndarray, rng: np.random.Generator, per_minute: float = 0.25
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Copy of ``pos`` with a few tracking glitches (the cursor jumps 1-3 cm for 30-60 ms), and
    the outlier segments around them. Glitches land between trials: they corrupt the recorded
    cursor, not the hand the neurons drive, and stay outside the train/valid/test domains."""
    gaps = [(e + 0.02, s - 0.02) for e, s in zip(schedule.trial_end[:-1], schedule.trial_start[1:]) if s - e >= 0.12]
    n = min(int(rng.poisson(per_minute * schedule.duration / 60.0)), len(gaps))
    out = pos.copy()
    segments = []
    for g in sorted(rng.choice(len(gaps), size=n, replace=False)) if n else []:
        lo, hi = gaps[g]
        length = min(rng.uniform(0.03, 0.06), hi - lo - 0.02)
        a = rng.uniform(lo, hi - length)
        i0, i1 = int(np.ceil(a / DT)), int(np.ceil((a + length) / DT))
        out[i0:i1] += _rotate(np.array([rng.uniform(1.0, 3.0), 0.0]), rng.uniform(0, 2 * np.pi))
        segments.append(((i0 - 1) * DT, (i1 + 1) * DT))
    return out, segments
