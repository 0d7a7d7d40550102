"""Parameter counts of the suite's models set up on a dataset, next to the paper's where published.

Models are set up without training where they can (``initialise``) and fitted with the suite's
training settings otherwise; counts exclude per-unit and per-session embedding tables.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import pandas as pd

from bench.models.base import Decoder
from bench.protocols import Protocol, ProtocolParams, RunContext, Table
from bench.protocols.common import new_model, training_groups
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import Record
from bench.suite.execute import make_record
from bench.suite.plan import PlannedRun


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    for run in runs:
        started = provenance(ctx.device)
        model = new_model(run, ctx)
        group = training_groups(run, ctx)[0]
        if type(model).initialise is not Decoder.initialise:
            model.initialise(group)
        else:
            model.fit(group, ctx.suite.train_config(run.model), progress=False)
        yield make_record(
            run, ctx.suite, summary=None, sessions=[], n_parameters=int(model.n_parameters()), latency={},
            streaming_max_abs_diff=None, train_seconds=0.0, eval_seconds=0.0, provenance=finish_provenance(started),
            scores={"paper_parameters": type(model).paper_parameters, "n_units": group[0].recording.n_units},
        )


def tables(records: list[Record], suite) -> list[Table]:
    order = {m.display: i for i, m in enumerate(suite.spec.models)}
    rows = []
    for r in sorted(records, key=lambda r: (r.dataset, order.get(r.label, len(order)))):
        paper = r.scores.get("paper_parameters")
        rows.append({"model": r.label, "dataset": r.dataset, "units": r.scores.get("n_units"),
                     "parameters": r.n_parameters, "paper": f"{paper:,}" if paper else "",
                     "deviation": f"{(r.n_parameters - paper) / paper:+.1%}" if paper else ""})
    df = pd.DataFrame(rows)
    header = "# Parameters\n\nExcluding per-unit / per-session embedding tables.\n\n"
    return [Table("parameters", header + df.to_markdown(index=False) + "\n", df)]


PROTOCOL = Protocol("parameters", ProtocolParams, execute, tables=tables)
