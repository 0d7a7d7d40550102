"""Side-by-side training time of decoders on one simulated session (same epochs, same data).

    python -m bench trainspeed --models possm-gru possm-mamba --epochs 5
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from bench import registry
from bench.benchmarks.latency import _session
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig


def training_times(models: Sequence[str], preset: str = "c_co_2016", epochs: int = 5, rounds: int = 2,
                   threads: int = 1, cache_dir: Path | None = None, log=print) -> pd.DataFrame:
    """Seconds per epoch (median over rounds, models alternating) with a fixed epoch count."""
    torch.set_num_threads(threads)
    data = ReachingVelocity().prepare(_session(preset, cache_dir, "default"), 0.05)
    cfg = TrainConfig(epochs=epochs, batch_size=16, patience=epochs + 1)
    seconds: dict[str, list[float]] = {m: [] for m in models}
    for r in range(rounds):
        for name in models:
            cls = registry.models.get(name)
            model = cls(cls.Params(), seed=r)
            t0 = time.perf_counter()
            model.fit([data], cfg, progress=False)
            seconds[name].append((time.perf_counter() - t0) / epochs)
            log(f"  round {r}: {name} {seconds[name][-1]:.2f} s/epoch")
    df = pd.DataFrame({"model": list(models), "s_per_epoch": [float(pd.Series(seconds[m]).median()) for m in models]})
    df["x first"] = df["s_per_epoch"] / df["s_per_epoch"].iloc[0]
    return df
