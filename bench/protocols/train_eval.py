"""The default protocol: train, evaluate, check streaming and time each model; the leaderboard's.

For each session of the dataset: fit the model on train (model selection on valid), predict the
test split, score it; on the first session also check that streaming reproduces the offline
outputs and measure per-chunk latency. A model marked ``needs_gpu`` trains on CUDA whatever the
suite's device; without a GPU its run is recorded untrained (``trained: false``): parameters,
streaming check and CPU latency of the set-up model, which do not depend on the weights.
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

import numpy as np

from bench import registry
from bench.latency import cuda_available
from bench.metrics.regression import aggregate_sessions
from bench.models.base import Decoder
from bench.protocols import Protocol, ProtocolParams, RunContext
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import Record, SessionResult, Summary
from bench.suite.execute import DatasetCache, make_record, measure_latency, streaming_diff
from bench.suite.loader import LoadedSuite
from bench.suite.plan import PlannedRun, trains_here

UNTRAINED_REASON = ("needs_gpu and no CUDA device on this machine: metric not measured; parameters, streaming "
                    "check and latency are of the untrained model")


def execute_run(run: PlannedRun, suite: LoadedSuite, cache: DatasetCache, device: str, progress: bool) -> Record:
    if not trains_here(run):
        return execute_untrained(run, suite, cache)
    if run.model.needs_gpu:
        device = "cuda"
    started = provenance(device)
    cls = registry.models.get(run.model.name)
    task = suite.task(run.dataset)
    params = suite.model_params(run.model, run.dataset)
    train_cfg = suite.train_config(run.model)
    datas = cache.task_data(run.dataset)
    chunk_s = suite.chunk_s(run.dataset)
    groups = [datas] if cls.multi_session else [[d] for d in datas]
    sessions: list[SessionResult] = []
    latency: dict = {}
    stream_diff, stream_checked, n_params = None, False, []
    for group in groups:
        model: Decoder = cls(params, seed=run.seed, device=device)
        t0 = time.perf_counter()
        fit_report = model.fit(group, train_cfg, progress=progress)
        train_s = time.perf_counter() - t0
        n_params.append(model.n_parameters())
        for data in group:
            t1 = time.perf_counter()
            test = data.segments("test")
            preds = model.predict(test)
            metrics = task.score(test, preds)
            sessions.append(SessionResult(
                recording_id=data.recording.recording_id, n_units=data.recording.n_units, metrics=metrics,
                n_parameters=n_params[-1], fit=fit_report, train_seconds=train_s / len(group),
                eval_seconds=time.perf_counter() - t1,
            ))
            if not stream_checked and suite.spec.check_streaming and model.streams_like_predict:
                stream_diff, stream_checked = streaming_diff(model, test[0], preds[0], chunk_s), True
                model.to(device)
            if not latency and suite.spec.latency.enabled:
                latency["cpu"] = measure_latency(model, data, suite, "cpu")
                if suite.spec.latency.cuda and cuda_available() and model.to("cuda"):
                    latency["cuda"] = measure_latency(model, data, suite, "cuda")
                model.to(device)
    values = [s.metrics[task.primary_metric] for s in sessions]
    return make_record(
        run, suite, trained=True, summary=Summary(**aggregate_sessions(values)), sessions=sessions,
        n_parameters=int(np.median(n_params)), latency=latency, streaming_max_abs_diff=stream_diff,
        train_seconds=float(sum(s.train_seconds for s in sessions)),
        eval_seconds=float(sum(s.eval_seconds for s in sessions)), provenance=finish_provenance(started),
    )


def execute_untrained(run: PlannedRun, suite: LoadedSuite, cache: DatasetCache) -> Record:
    """Record what does not need training: parameters, streaming == offline on one test segment,
    per-chunk CPU latency. Set up on the first training group only (one session, or all of them
    for a multi-session model), as the trained path measures latency on its first session."""
    started = provenance("cpu")
    cls = registry.models.get(run.model.name)
    datas = cache.task_data(run.dataset)
    group = datas if cls.multi_session else datas[:1]
    model: Decoder = cls(suite.model_params(run.model, run.dataset), seed=run.seed, device="cpu")
    model.initialise(group)
    test = group[0].segments("test")
    stream_diff = None
    if suite.spec.check_streaming and model.streams_like_predict:
        stream_diff = streaming_diff(model, test[0], model.predict(test[:1])[0], suite.chunk_s(run.dataset))
    latency = {"cpu": measure_latency(model, group[0], suite, "cpu")} if suite.spec.latency.enabled else {}
    return make_record(
        run, suite, trained=False, untrained_reason=UNTRAINED_REASON, summary=None, sessions=[],
        n_parameters=int(model.n_parameters()), latency=latency, streaming_max_abs_diff=stream_diff,
        train_seconds=0.0, eval_seconds=0.0, provenance=finish_provenance(started),
    )


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    for run in runs:
        yield execute_run(run, ctx.suite, ctx.cache, ctx.device, ctx.progress)


PROTOCOL = Protocol("train_eval", ProtocolParams, execute)
