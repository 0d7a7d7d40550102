"""Test metric against the training budget (epochs), for several models on the same sessions.

Answers "is model A worse than B, or only slower to train?":

    python -m bench curve --models gru possm-gru --epochs 20 60 150 --preset c_co_2016
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from bench import registry
from bench.data.recording import load_recording
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig


def learning_curve(models: Sequence[str], epochs: Sequence[int], preset: str = "c_co_2016", n_sessions: int = 1,
                   threads: int = 1, lr: float = 2e-3, cache_dir: Path | None = None, log=print,
                   scale: str = "default") -> pd.DataFrame:
    from bench.data.simulator import SimulatorParams, SimulatorSource

    torch.set_num_threads(threads)
    paths = SimulatorSource(SimulatorParams(preset=preset, scale=scale), cache_dir=cache_dir).materialize(progress=False)[:n_sessions]
    task = ReachingVelocity()
    datas = [task.prepare(load_recording(p), 0.05) for p in paths]
    rows = []
    for n_epochs in epochs:
        for name in models:
            cls = registry.models.get(name)
            for data in datas:
                model = cls(cls.Params(), seed=0)
                t0 = time.perf_counter()
                rep = model.fit([data], TrainConfig(epochs=n_epochs, batch_size=16, lr=lr, patience=max(15, n_epochs // 3)),
                                progress=False)
                train_s = time.perf_counter() - t0
                # Train R^2 next to test R^2 separates under-fitting (both low: optimisation or
                # capacity) from over-fitting (train high, test low: too little data).
                r2 = {split: task.score(segs, model.predict(segs))["r2"]
                      for split in ("train", "test") for segs in [data.segments(split)]}
                rows.append({"model": name, "session": data.recording.recording_id, "epochs": n_epochs,
                             "best_epoch": rep["best_epoch"], "epochs_run": rep["epochs_run"],
                             "train_s": train_s, "train_r2": r2["train"], "r2": r2["test"]})
                log(f"  {name:>12s} {n_epochs:4d} epochs (best {rep['best_epoch']}): "
                    f"train r2 {r2['train']:.3f}, test r2 {r2['test']:.3f}")
    return pd.DataFrame(rows)
