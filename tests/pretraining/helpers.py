"""Tiny sessions and a tiny POSSM for the pretraining tests (seconds on one core)."""

from __future__ import annotations

from bench import registry
from bench.tasks.reaching import ReachingVelocity
from tests.conftest import make_recording

TINY_POSSM = {"dim": 16, "dim_head": 16, "hidden": 16, "dropout": 0.0, "unit_dropout": False}


def sessions(n: int = 3, n_trials: int = 16, start: int = 0, animal: str = "tiny") -> list:
    out = []
    for i in range(start, start + n):
        rec = make_recording(n_trials=n_trials, n_units=10, seed=i, recording_id=f"{animal}_{i}")
        rec.brainset = animal
        out.append(ReachingVelocity().prepare(rec, 0.05))
    return out


def tiny_model(name: str = "possm-gru", seed: int = 0, **params):
    cls = registry.models.get(name)
    return cls(cls.Params(**{**TINY_POSSM, **params}), seed=seed)
