"""How much POYO loses to causal streaming: test R^2 against the readout's place in the window.

    python -m bench.benchmarks.poyo_window_position --preset h_co --epochs 60 --lr 5e-4

Trains one POYO-SS on one simulated session (one thread, batch 16, flat-cosine schedule, every
epoch run and the best validation epoch kept), then
scores its test split four ways:

* ``causal``: the harness's streaming evaluation (``predict`` == ``step``): each output from the
  1 s window ending at its chunk, so the readout sits at the window's trailing edge;
* ``lookahead D``: the same windows shifted D seconds later, so D seconds of spikes follow each
  query (not causal; analysis only, :meth:`POYODecoder.predict_lookahead`);
* ``paper``: the POYO paper's evaluation, 1 s windows every 0.5 s with overlapping predictions
  averaged (most queries sit inside a window, with future spikes after them);
* ``train``: causal R^2 on the training split (is it under- or over-fitting?).

R^2 rising with the lookahead says the causal shortfall is the trailing-edge position, not the
model's capacity. Compare with the MLP / GRU rows of results/nhp (causal, same sessions).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Sequence

import torch

from bench import registry
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig

LOOKAHEADS = (0.05, 0.1, 0.25, 0.5)


def window_position_scores(preset: str = "c_co_2016", session: int = 0, epochs: int = 60, lr: float = 5e-4,
                           params: dict | None = None, seed: int = 0, lookaheads: Sequence[float] = LOOKAHEADS,
                           log=print) -> dict[str, float]:
    from bench.data.recording import load_recording
    from bench.data.simulator import SimulatorParams, SimulatorSource

    paths = SimulatorSource(SimulatorParams(preset=preset, scale="default")).materialize(progress=False)
    task = ReachingVelocity()
    data = task.prepare(load_recording(paths[session]), 0.05)
    cls = registry.models.get("poyo-ss")
    model = cls(cls.Params(**(params or {})), seed=seed)
    t0 = time.perf_counter()
    # every epoch runs (patience = epochs); the weights of the best validation epoch are kept
    report = model.fit([data], TrainConfig(epochs=epochs, batch_size=16, lr=lr, patience=epochs), progress=False)
    train_s = time.perf_counter() - t0
    test = data.segments("test")
    scores = {"train": task.score(data.segments("train"), model.predict(data.segments("train")))["r2"],
              "causal": task.score(test, model.predict(test))["r2"]}
    for d in lookaheads:
        scores[f"lookahead {d:g} s"] = task.score(test, model.predict_lookahead(test, d))["r2"]
    model.params = model.params.model_copy(update={"eval_mode": "paper"})
    scores["paper"] = task.score(test, model.predict(test))["r2"]
    log(f"{data.recording.recording_id}: POYO-SS {json.dumps(params or {})}, {epochs} epochs at lr {lr:g} "
        f"(best epoch {report['best_epoch']}, {train_s:.0f} s): "
        + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="c_co_2016")
    ap.add_argument("--session", type=int, default=0, help="index of the session in the preset")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default="{}", help='POYO-SS parameters as JSON, e.g. \'{"edge_weight": 4}\'')
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    window_position_scores(a.preset, a.session, a.epochs, a.lr, json.loads(a.params), a.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
