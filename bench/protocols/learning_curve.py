"""Test metric against the training budget: is a model worse, slower to train, or over-fitting?

Each model is trained once per epoch budget (``epochs``) on each session, for the whole budget:
no early stopping (version 2; version 1 stopped after a third of the budget without progress,
which ended runs inside the flat half of POSSM's flat-then-cosine schedule, before the decay that
makes its gains), keeping the weights of the best validation epoch as the authors' recipes do;
each is scored on the test split and, causally, on its training split: both low says under-fitting (optimisation or capacity), train
high and test low says over-fitting (too little data). One record per model, dataset and seed
holds every point; its test metrics are those of the last budget.
"""

from __future__ import annotations

import time
from typing import Annotated, Iterator, Sequence

import pandas as pd
from pydantic import Field

from bench.metrics.regression import aggregate_sessions
from bench.protocols import Protocol, ProtocolParams, RunContext, Table
from bench.protocols.common import fit_groups, primary_score
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import CurvePoint, Record, SessionResult, Summary
from bench.suite.execute import make_record
from bench.suite.plan import PlannedRun


class LearningCurveParams(ProtocolParams):
    epochs: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        [20, 60, 150], min_length=1, max_length=50, description="epoch budgets, one training each")


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    for run in runs:
        started = provenance(ctx.device)
        task = ctx.suite.task(run.dataset)
        base = ctx.suite.train_config(run.model)
        points: dict[str, list[CurvePoint]] = {}
        last: dict[str, tuple] = {}
        for n_epochs in ctx.params.epochs:
            train = base.model_copy(update={"epochs": n_epochs, "patience": n_epochs})
            for fitted in fit_groups(run, ctx, train):
                for data in fitted.group:
                    test, seen = data.segments("test"), data.segments("train")
                    t0 = time.perf_counter()
                    metrics = task.score(test, fitted.model.predict(test))
                    point = CurvePoint(
                        setting={"epochs": n_epochs}, metrics=metrics, fit=fitted.fit,
                        scores={"train": primary_score(task, seen, fitted.model.predict(seen))},
                        train_seconds=fitted.train_seconds / len(fitted.group))
                    points.setdefault(data.recording.recording_id, []).append(point)
                    last[data.recording.recording_id] = (data, fitted, time.perf_counter() - t0)
        sessions = [SessionResult(
            recording_id=rid, n_units=data.recording.n_units, metrics=points[rid][-1].metrics,
            n_parameters=int(fitted.model.n_parameters()), fit=fitted.fit, train_seconds=points[rid][-1].train_seconds,
            eval_seconds=eval_s, points=points[rid]) for rid, (data, fitted, eval_s) in last.items()]
        values = [s.metrics[task.primary_metric] for s in sessions]
        yield make_record(
            run, ctx.suite, summary=Summary(**aggregate_sessions(values)), sessions=sessions,
            n_parameters=sessions[0].n_parameters, latency={}, streaming_max_abs_diff=None,
            train_seconds=float(sum(p.train_seconds for s in sessions for p in s.points)),
            eval_seconds=float(sum(s.eval_seconds for s in sessions)), provenance=finish_provenance(started),
        )


def curve_frame(records: list[Record]) -> pd.DataFrame:
    """One row per model, dataset, session, seed and budget."""
    return pd.DataFrame([
        {"model": r.label, "dataset": r.dataset, "session": s.recording_id, "seed": r.seed, **p.setting,
         "best_epoch": p.fit.get("best_epoch"), "epochs_run": p.fit.get("epochs_run"), "train_s": p.train_seconds,
         f"train_{r.metric}": p.scores.get("train"), r.metric: p.metrics[r.metric]}
        for r in records for s in r.sessions for p in s.points])


def tables(records: list[Record], suite) -> list[Table]:
    df = curve_frame(records)
    if df.empty:
        return [Table("learning_curve", "No learning-curve records yet.\n", df)]
    header = ("# Test metric against the epoch budget\n\nOne training per budget and session; `train_*`: the "
              "same metric on the training split (under- or over-fitting?).\n\n")
    return [Table("learning_curve", header + df.to_markdown(index=False, floatfmt=".3f") + "\n", df)]


PROTOCOL = Protocol("learning_curve", LearningCurveParams, execute, tables=tables, version=2)
