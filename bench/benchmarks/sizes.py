"""Parameter counts of registered models on a reference session, next to the paper's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from bench import registry
from bench.data.recording import load_recording
from bench.models.torch_decoder import TorchDecoder
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig


def parameter_table(models: Sequence[str] | None = None, n_units: int = 100, cache_dir: Path | None = None) -> pd.DataFrame:
    from bench.data.simulator import SimulatorParams, SimulatorSource

    source = SimulatorSource(SimulatorParams(preset="c_co_2016", n_sessions=1, n_trials=20, n_neurons=n_units), cache_dir=cache_dir)
    data = ReachingVelocity().prepare(load_recording(source.materialize(progress=False)[0]), 0.05)
    rows = []
    for name in models or registry.models.names():
        cls = registry.models.get(name)
        model = cls(cls.Params(), seed=0)
        if isinstance(model, TorchDecoder):
            model.initialise([data])
        else:
            model.fit([data], TrainConfig(), progress=False)
        n = model.n_parameters()
        paper = cls.paper_parameters
        rows.append({
            "model": name, "parameters": n, "paper": f"{paper:,}" if paper else "",
            "deviation": f"{(n - paper) / paper:+.1%}" if paper else "",
        })
    return pd.DataFrame(rows)
