"""Faulty recordings and imports for the reliability tests and the fuzzing script: each helper writes
a small valid input, then one fault, so a test can name the fault it expects to be refused."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from bench.data.storage import save_recording
from tests.conftest import make_recording


def good_h5(path: Path, n_trials: int = 12, n_units: int = 4, seed: int = 0) -> Path:
    """A small valid recording in the brainsets layout (the conftest's centre-out trials)."""
    return save_recording(make_recording(n_trials=n_trials, n_units=n_units, seed=seed), path)


def set_dataset(path: Path, name: str, values) -> None:
    """Replace dataset ``name`` of an HDF5 file (shape and dtype may change)."""
    with h5py.File(path, "r+") as f:
        del f[name]
        f[name] = values


def good_arrays(rng: np.random.Generator, n_bins: int = 200, n_units: int = 4) -> dict:
    """Continuous-layout arrays: counts (T, U) and a 2-D behaviour per bin."""
    return {"counts": rng.poisson(1.0, (n_bins, n_units)), "behaviour": rng.normal(size=(n_bins, 2))}
