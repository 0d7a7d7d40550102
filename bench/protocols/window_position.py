"""Where the readout sits in a model's window: causal test scores against looking ahead.

For each session, the model is trained with the suite's settings and its test split scored:

* ``causal``: the harness's streaming evaluation (``predict`` == ``step``), the record's metrics;
* ``lookahead D`` (``lookaheads``), for models that offer ``predict_lookahead(segments, D)``: each
  output from the window ending D seconds after its chunk (not causal; analysis only). A score
  rising with D says a causal shortfall is the readout's place at the window's trailing edge;
* each of ``variants``: the trained model scored again with some parameters changed, for models
  whose parameters have them (e.g. ``{paper: {eval_mode: paper}}``, a paper's overlapping-window
  evaluation);
* ``train``: causal, on the training split (under- or over-fitting?);
* with ``context``: causal again on the queries less than ``context_s`` into their trial (a
  fresh stream has seen less than a full window: ``fresh, clipped window``) and on the rest
  (``fresh, full window``), and from streams started ``context_s`` before each trial (``warm``).

Scores are the task's primary metric, kept per session under these names in ``scores``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any, Iterator, Sequence

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from bench.errors import SuiteError
from bench.metrics.regression import aggregate_sessions
from bench.protocols import Protocol, ProtocolParams, RunContext
from bench.protocols.common import fit_groups, primary_score
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import Record, SessionResult, Summary
from bench.suite.execute import make_record
from bench.suite.plan import PlannedRun
from bench.tasks.base import Segment

CONTEXT_KEYS = ("fresh", "fresh, clipped window", "fresh, full window", "warm")


class WindowPositionParams(ProtocolParams):
    lookaheads: list[Annotated[float, Field(ge=0, le=60)]] = Field(
        [0.05, 0.1, 0.25, 0.5], max_length=50, description="seconds past each chunk (predict_lookahead)")
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict, max_length=50, description="name -> parameter values set on the trained model for one more test "
        "score (models whose parameters lack them are not scored)")
    context: bool = Field(True, description="also score clipped / full windows and warm streams")
    context_s: float = Field(1.0, gt=0, le=3600, description="window length the context scores split at and warm up by")


class WindowPositionReport(ProtocolParams):
    reference: str | None = Field(None, min_length=1, max_length=1000,
                                  description="run folder of the reference models' records (relative to the suite file)")
    reference_models: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50, description="model labels of that folder scored beside each session")


def lookahead_name(seconds: float) -> str:
    return f"lookahead {seconds:g} s"


def warm_segments(segments: Sequence[Segment], warm_s: float, chunk_s: float) -> list[Segment]:
    """The same queries, targets and mask, with the stream started ``warm_s`` earlier (whole chunks,
    so every query keeps its chunk; never before the recording's first sample)."""
    out = []
    for seg in segments:
        first = float(seg.recording.domain.start.min())
        n = min(round(warm_s / chunk_s), int(np.floor((seg.start - first) / chunk_s + 1e-9)))
        out.append(replace(seg, start=seg.start - max(n, 0) * chunk_s))
    return out


def queries_by_time_in_trial(segments: Sequence[Segment], before_s: float) -> tuple[list[Segment], list[Segment]]:
    """The segments with their scored queries split at ``before_s`` after the segment start."""
    early, late = [], []
    for seg in segments:
        is_early = seg.query_times - seg.start < before_s - 1e-9
        early.append(replace(seg, eval_mask=seg.eval_mask & is_early))
        late.append(replace(seg, eval_mask=seg.eval_mask & ~is_early))
    return early, late


def context_scores(model, task, test: Sequence[Segment], preds: list, context_s: float, chunk_s: float) -> dict:
    """Causal scores of a fitted model: the whole split, its queries in the first ``context_s`` of
    each trial and after (fresh streams; ``preds``: its causal predictions of ``test``), and from
    streams started ``context_s`` before each trial."""
    early, late = queries_by_time_in_trial(test, context_s)
    warm = warm_segments(test, context_s, chunk_s)
    return dict(zip(CONTEXT_KEYS, (primary_score(task, test, preds), primary_score(task, early, preds),
                                   primary_score(task, late, preds), primary_score(task, test, model.predict(warm)))))


def with_variant(model_params: BaseModel, values: dict[str, Any], name: str) -> BaseModel | None:
    """The model's parameters with a variant's values (validated), or None when it lacks those fields."""
    if not set(values) <= set(type(model_params).model_fields):
        return None
    try:
        return type(model_params).model_validate({**model_params.model_dump(), **values})
    except ValidationError as exc:
        raise SuiteError(f"protocol.params.variants.{name}: {values} are not valid parameters of "
                         f"{type(model_params).__name__} ({exc.errors()[0]['msg']}).") from None


def session_scores(model, task, data, params: WindowPositionParams) -> tuple[dict, dict]:
    """(causal test metrics, other scores by name) of a fitted model on one session."""
    train, test = data.segments("train"), data.segments("test")
    causal = model.predict(test)
    scores: dict[str, float] = {}
    if hasattr(model, "predict_lookahead"):
        for d in params.lookaheads:
            scores[lookahead_name(d)] = primary_score(task, test, model.predict_lookahead(test, d))
    if params.context:
        scores.update(context_scores(model, task, test, causal, params.context_s, data.chunk_s))
    for name, values in params.variants.items():
        changed = with_variant(model.params, values, name)
        if changed is not None:
            kept, model.params = model.params, changed
            scores[name] = primary_score(task, test, model.predict(test))
            model.params = kept
    scores["train"] = primary_score(task, train, model.predict(train))
    return task.score(test, causal), scores


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    for run in runs:
        for name, values in ctx.params.variants.items():  # refuse a bad variant before hours of training
            with_variant(ctx.suite.model_params(run.model, run.dataset), values, name)
        started = provenance(ctx.device)
        task = ctx.suite.task(run.dataset)
        sessions = []
        for fitted in fit_groups(run, ctx):
            for data in fitted.group:
                t0 = time.perf_counter()
                metrics, scores = session_scores(fitted.model, task, data, ctx.params)
                sessions.append(SessionResult(
                    recording_id=data.recording.recording_id, n_units=data.recording.n_units, metrics=metrics,
                    n_parameters=int(fitted.model.n_parameters()), fit=fitted.fit, scores=scores,
                    train_seconds=fitted.train_seconds / len(fitted.group), eval_seconds=time.perf_counter() - t0))
        values = [s.metrics[task.primary_metric] for s in sessions]
        yield make_record(
            run, ctx.suite, summary=Summary(**aggregate_sessions(values)), sessions=sessions,
            n_parameters=sessions[0].n_parameters, latency={}, streaming_max_abs_diff=None,
            train_seconds=float(sum(s.train_seconds for s in sessions)),
            eval_seconds=float(sum(s.eval_seconds for s in sessions)), provenance=finish_provenance(started),
        )


def _tables(records, suite):
    from bench.protocols.window_position_tables import tables

    return tables(records, suite)


PROTOCOL = Protocol("window_position", WindowPositionParams, execute, tables=_tables, Report=WindowPositionReport)
