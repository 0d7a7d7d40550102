"""Shared fixtures: tiny hand-built recordings in the brainsets layout (no simulator needed)."""

from __future__ import annotations

import textwrap

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data.intervals import Intervals
from bench.data.recording import Behaviour, Recording, Trials, split_trials
from bench.data.storage import save_recording

# One intra-op thread: deterministic, and immune to the 10-100x slowdown that oversubscribed
# threads cause on a busy 2-core machine.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REALDATA = SHARED / "realdata"


def make_recording(n_trials: int = 40, n_units: int = 16, seed: int = 0, trial_s: float = 2.0,
                   recording_id: str = "tiny_0") -> Recording:
    """Centre-out-like trials: velocity bumps towards one of 8 targets; log-linear tuned Poisson units."""
    rng = np.random.default_rng(seed)
    dt = 0.01
    duration = n_trials * trial_s
    t = np.arange(0.0, duration, dt)
    starts = np.arange(n_trials) * trial_s
    ends = starts + trial_s
    target = rng.integers(0, 8, n_trials)
    vel = np.zeros((t.size, 2))
    go = starts + 0.6
    for i in range(n_trials):
        m = (t >= go[i]) & (t < go[i] + 0.6)
        speed = 30 * np.sin(np.pi * (t[m] - go[i]) / 0.6) ** 2
        ang = target[i] * np.pi / 4
        vel[m] = np.stack([speed * np.cos(ang), speed * np.sin(ang)], axis=1)
    pref = rng.uniform(0, 2 * np.pi, n_units)
    base = rng.uniform(5, 25, n_units)
    lead = np.roll(vel, -10, axis=0)
    rate = base * np.exp(0.03 * (lead[:, :1] * np.cos(pref) + lead[:, 1:] * np.sin(pref)))
    counts = rng.poisson(rate * dt)
    ti, ui = np.nonzero(counts)
    k = counts[ti, ui]
    times = np.repeat(t[ti], k) + rng.uniform(0, dt, k.sum())
    units = np.repeat(ui, k)
    order = np.argsort(times)
    trials = Trials(starts, ends, target, np.ones(n_trials, bool))
    return Recording(
        recording_id, "tiny", "tiny", "center_out", Intervals.single(0.0, duration), times[order], units[order],
        np.array([f"u{i}" for i in range(n_units)]), Behaviour("cursor", t, vel), trials,
        {"hold_period": Intervals(starts, go), "reach_period": Intervals(go, go + 0.6), "return_period": Intervals(go + 0.6, ends)},
        Intervals.empty(), split_trials(trials),
    )


@pytest.fixture
def tiny_recording() -> Recording:
    return make_recording()


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """Two 20-trial recordings (40 s each): dozens of suite tests train on them, so their length
    multiplies through the whole test command."""
    folder = tmp_path / "tiny"
    for i in range(2):
        save_recording(make_recording(n_trials=20, seed=i, recording_id=f"tiny_{i}"), folder / f"tiny_{i}.h5")
    return folder


# A tiny suite on the ``tiny_folder`` recordings: a linear and a recurrent decoder, 2 epochs.
TINY_SUITE = """
name: tiny
task: reaching_velocity
seeds: [0]
train: {epochs: 2, batch_size: 16}
latency: {n_chunks: 20, warmup: 2}
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: wiener}
  - {name: gru, params: {hidden: 16, embed_dim: 8}}
"""


def write_suite(tmp_path: Path, folder: Path, text: str = TINY_SUITE, name: str = "suite.yaml") -> Path:
    """Write a suite text (``FOLDER`` standing for the data folder) as ``tmp_path / name``."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("FOLDER", str(folder)))
    return path


@pytest.fixture
def suite_file(tmp_path: Path, tiny_folder: Path) -> Path:
    """``TINY_SUITE`` written for this test; modules with a suite of their own override the fixture."""
    return write_suite(tmp_path, tiny_folder)
