"""Side-by-side training time: seconds per epoch of the suite's models on the same session.

Every model trains the suite's fixed number of epochs (set ``train.patience`` above ``epochs`` so
that none stops early) on the first session of the dataset, in alternating rounds (a new seed per
round), so that drifts of a shared machine hit all models alike. The record keeps the seconds per
epoch of each round; the table their medians and the ratio to the suite's first model.
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from bench.protocols import Protocol, ProtocolParams, RunContext, Table
from bench.protocols.common import new_model
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import Record
from bench.suite.execute import make_record
from bench.suite.plan import PlannedRun


class TrainingTimeParams(ProtocolParams):
    rounds: int = Field(2, ge=1, le=100, description="alternating rounds; each model trains once per round")


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    started = provenance(ctx.device)
    data = ctx.cache.task_data(runs[0].dataset)[0]
    per_epoch: dict[str, list[float]] = {r.name: [] for r in runs}
    total: dict[str, float] = {r.name: 0.0 for r in runs}
    n_params: dict[str, int] = {}
    for round_ in range(ctx.params.rounds):
        for run in runs:
            train = ctx.suite.train_config(run.model)
            model = new_model(run, ctx, seed=run.seed + round_)
            t0 = time.perf_counter()
            report = model.fit([data], train, progress=ctx.progress)
            seconds = time.perf_counter() - t0
            total[run.name] += seconds
            per_epoch[run.name].append(seconds / (report.get("epochs_run") or train.epochs))
            n_params[run.name] = int(model.n_parameters())
    for run in runs:
        seconds = per_epoch[run.name]
        yield make_record(
            run, ctx.suite, summary=None, sessions=[], n_parameters=n_params[run.name], latency={},
            streaming_max_abs_diff=None, train_seconds=total[run.name],
            eval_seconds=0.0, provenance=finish_provenance(started),
            scores={"recording": data.recording.recording_id, "seconds_per_epoch": seconds,
                    "median_seconds_per_epoch": float(np.median(seconds))},
        )


def tables(records: list[Record], suite) -> list[Table]:
    order = {m.display: i for i, m in enumerate(suite.spec.models)}
    records = sorted(records, key=lambda r: (r.dataset, order.get(r.label, len(order))))
    df = pd.DataFrame([{"model": r.label, "dataset": r.dataset, "s_per_epoch": r.scores["median_seconds_per_epoch"],
                        "rounds": len(r.scores["seconds_per_epoch"])} for r in records])
    if df.empty:
        return [Table("training_time", "No training-time records yet.\n", df)]
    df["x first"] = df["s_per_epoch"] / df.groupby("dataset")["s_per_epoch"].transform("first")
    threads = suite.spec.threads
    header = (f"# Training time per epoch\n\nMedian over alternating rounds on the first session of each dataset, "
              f"{threads} thread(s); ratio to the first model of the dataset.\n\n")
    return [Table("training_time", header + df.to_markdown(index=False, floatfmt=".2f") + "\n", df)]


PROTOCOL = Protocol("training_time", TrainingTimeParams, execute, tables=tables, together=True)
