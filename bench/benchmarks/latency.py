"""Side-by-side streaming latency of decoders, in one process, on one recording.

Every model is fitted briefly (weights do not change the cost of a step), then all models are
timed in interleaved rounds on the same chunks, so that drifts of a shared machine hit them
alike. Reports per-chunk median / p90 / p99 / max at batch 1, the share of chunks over the
budget, parameter counts, and ratios to reference models measured in the same run.

    python -m bench latency --models gru possm-gru possm-s4d possm-mamba --threads 1
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from bench import registry
from bench.data.recording import load_recording
from bench.latency import cuda_available, measure_step_latency
from bench.models.base import chunk_segment
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig


@dataclass
class LatencyRow:
    model: str
    device: str
    n_parameters: int
    times_ms: np.ndarray

    def summary(self, budget_ms: float) -> dict:
        t = self.times_ms
        return {
            "model": self.model, "device": self.device, "params": self.n_parameters,
            "median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)),
            "p99_ms": float(np.percentile(t, 99)), "max_ms": float(t.max()),
            "over_budget": float(np.mean(t > budget_ms)), "n_chunks": int(t.size),
        }


def _session(preset: str, cache_dir: Path | None, scale: str):
    from bench.data.simulator import SimulatorParams, SimulatorSource

    source = SimulatorSource(SimulatorParams(preset=preset, scale=scale), cache_dir=cache_dir)
    return load_recording(source.materialize(progress=False)[0])


def benchmark(
    models: Sequence[str], preset: str = "c_co_2016", scale: str = "default", chunk_ms: float = 50.0,
    threads: int = 1, n_chunks: int = 300, warmup: int = 30, rounds: int = 3, budget_ms: float = 10.0,
    devices: Sequence[str] = ("cpu",), cache_dir: Path | None = None, log=print,
) -> pd.DataFrame:
    torch.set_num_threads(threads)
    rec = _session(preset, cache_dir, scale)
    data = ReachingVelocity().prepare(rec, chunk_ms / 1000.0)
    chunks = [c for seg in data.segments("test") for c in chunk_segment(seg, data.chunk_s)]
    log(f"{rec.recording_id}: {rec.n_units} units, {len(chunks)} test chunks of {chunk_ms:g} ms; "
        f"{threads} thread(s), {rounds} interleaved rounds of {n_chunks // rounds} timed chunks")
    fitted = {}
    for name in models:
        cls = registry.models.get(name)
        model = cls(cls.Params(), seed=0)
        t0 = time.perf_counter()
        model.fit([data], TrainConfig(epochs=1, batch_size=16), progress=False)
        fitted[name] = model
        log(f"  built {name} ({model.n_parameters():,} params) in {time.perf_counter() - t0:.1f}s")
    rows = []
    for device in devices:
        if device == "cuda" and not cuda_available():
            log("  no CUDA device: GPU latency not measured")
            continue
        times = {name: [] for name in models}
        for r in range(rounds):
            for name in models:
                model = fitted[name]
                if not model.to(device):
                    continue
                stats = measure_step_latency(
                    model.step, chunks, warmup=warmup, n_timed=n_chunks // rounds, budget_ms=budget_ms,
                    chunk_ms=chunk_ms, device=device, threads=threads if device == "cpu" else None,
                    reset=lambda m=model: m.reset(rec),
                )
                times[name].append(stats.samples_ms)
        for name in models:
            if times[name]:
                rows.append(LatencyRow(name, device, fitted[name].n_parameters(), np.concatenate(times[name])).summary(budget_ms))
        for model in fitted.values():
            model.to("cpu")
    return pd.DataFrame(rows)


def add_ratios(df: pd.DataFrame, references: Sequence[str]) -> pd.DataFrame:
    for ref in references:
        for device, group in df.groupby("device"):
            base = group.loc[group["model"] == ref, "median_ms"]
            if len(base):
                df.loc[group.index, f"x {ref}"] = group["median_ms"] / float(base.iloc[0])
    return df


def write_report(df: pd.DataFrame, out_dir: Path, header: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv = out_dir / "latency.md", out_dir / "latency.csv"
    df.to_csv(csv, index=False)
    md.write_text(header + "\n\n" + df.to_markdown(index=False, floatfmt=".3f") + "\n")
    return [md, csv]
