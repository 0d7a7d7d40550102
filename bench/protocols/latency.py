"""Side-by-side streaming latency: the suite's models timed in one process, interleaved.

Every model is fitted with the suite's (short) training settings, since weights do not change
the cost of a step; then all models of a dataset are timed in interleaved rounds on the same test
chunks of its first session, so that drifts of a shared machine hit them alike. Each record
keeps the per-chunk distribution at batch 1 pooled over the rounds (median / p90 / p99 / max,
share over the budget) for the CPU, and for CUDA when present and ``latency.cuda``. The table
adds ratios to reference models measured in the same run (``protocol.report.reference``).
"""

from __future__ import annotations

import time
from typing import Annotated, Iterator, Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from bench.latency import LatencyStats, cuda_available, measure_step_latency
from bench.models.base import chunk_segment
from bench.protocols import Protocol, ProtocolParams, RunContext, Table
from bench.protocols.common import new_model
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import Record
from bench.suite.execute import make_record
from bench.suite.plan import PlannedRun


class LatencyParams(ProtocolParams):
    rounds: int = Field(3, ge=1, le=1000, description="interleaved rounds; each times latency.n_chunks / rounds steps per model")


class LatencyReport(ProtocolParams):
    reference: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50, description="model labels each median is divided by ('x LABEL' columns)")


def pooled(stats: list[LatencyStats]) -> dict:
    """One summary of the timed steps of several rounds (percentiles of all samples together)."""
    ms = np.concatenate([s.samples_ms for s in stats])
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    first = stats[0]
    return {"device": first.device, "threads": first.threads, "n_chunks": int(ms.size), "warmup": first.warmup,
            "chunk_ms": first.chunk_ms, "budget_ms": first.budget_ms, "median_ms": float(p50),
            "mean_ms": float(ms.mean()), "p90_ms": float(p90), "p99_ms": float(p99), "max_ms": float(ms.max()),
            "over_budget_fraction": float(np.mean(ms > first.budget_ms)), "rounds": len(stats)}


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    suite, lat = ctx.suite, ctx.suite.spec.latency
    started = provenance("cpu")
    data = ctx.cache.task_data(runs[0].dataset)[0]
    chunks = [c for seg in data.segments("test") for c in chunk_segment(seg, data.chunk_s)]
    fitted, train_s = {}, {}
    for run in runs:
        model = new_model(run, ctx)
        t0 = time.perf_counter()
        model.fit([data], suite.train_config(run.model), progress=ctx.progress)
        fitted[run.name], train_s[run.name] = model, time.perf_counter() - t0
    devices = ["cpu"] + (["cuda"] if lat.cuda and cuda_available() else [])
    timed: dict[str, dict[str, list[LatencyStats]]] = {r.name: {} for r in runs}
    per_round = max(1, lat.n_chunks // ctx.params.rounds)
    for device in devices:
        for _ in range(ctx.params.rounds):
            for run in runs:
                model = fitted[run.name]
                if not model.to(device):
                    continue
                timed[run.name].setdefault(device, []).append(measure_step_latency(
                    model.step, chunks, warmup=lat.warmup, n_timed=per_round, budget_ms=lat.budget_ms,
                    chunk_ms=data.chunk_s * 1000.0, device=device, threads=lat.threads if device == "cpu" else None,
                    reset=lambda m=model: m.reset(data.recording)))
        for model in fitted.values():
            model.to("cpu")
    together = [r.model.display for r in runs]
    for run in runs:
        yield make_record(
            run, suite, summary=None, sessions=[], n_parameters=int(fitted[run.name].n_parameters()),
            latency={d: pooled(s) for d, s in timed[run.name].items()}, streaming_max_abs_diff=None,
            train_seconds=train_s[run.name], eval_seconds=0.0,
            scores={"recording": data.recording.recording_id, "timed_with": together},
            provenance=finish_provenance(started),
        )


def latency_frame(records: list[Record], references: Sequence[str] = ()) -> pd.DataFrame:
    """One row per model and device, with the ratio of its median to each reference's."""
    rows = [{"model": r.label, "device": device, "params": r.n_parameters, "median_ms": s["median_ms"],
             "p90_ms": s["p90_ms"], "p99_ms": s["p99_ms"], "max_ms": s["max_ms"],
             "over_budget": s["over_budget_fraction"], "n_chunks": s["n_chunks"]}
            for r in records for device, s in r.latency.items()]
    df = pd.DataFrame(rows)
    for ref in references:
        for _, group in df.groupby("device"):
            base = group.loc[group["model"] == ref, "median_ms"]
            if len(base):
                df.loc[group.index, f"x {ref}"] = group["median_ms"] / float(base.iloc[0])
    return df


def tables(records: list[Record], suite) -> list[Table]:
    order = {m.display: i for i, m in enumerate(suite.spec.models)}
    records = sorted(records, key=lambda r: (r.dataset, order.get(r.label, len(order))))
    df = latency_frame(records, suite.spec.protocol.report.get("reference", []))
    if not records:
        return [Table("latency", "No latency records yet.\n", df)]
    first, prov = records[0], records[0].provenance
    recordings = sorted({str(r.scores.get("recording")) for r in records})
    header = (
        f"# Streaming latency per {float(first.latency['cpu']['chunk_ms']):g} ms chunk, batch 1\n\n"
        f"One run, models interleaved over {first.latency['cpu'].get('rounds', '?')} rounds on the same test chunks "
        f"of {', '.join(recordings)}; {first.latency['cpu'].get('threads', '?')} CPU thread(s); {prov.get('cpu')} "
        f"({prov.get('cpu_count')} cores); torch {prov.get('packages', {}).get('torch')}; commit "
        f"{str(prov.get('git', {}).get('commit'))[:10]}. Params exclude unit/session embedding tables. "
        f"Made by `python -m bench latency` (suite `{suite.spec.name}`); rebuilt from its records by "
        "`python -m bench report SUITE --out RUN_FOLDER`.\n\n"
    )
    return [Table("latency", header + df.to_markdown(index=False, floatfmt=".3f") + "\n", df)]


PROTOCOL = Protocol("latency", LatencyParams, execute, tables=tables, together=True, Report=LatencyReport)
