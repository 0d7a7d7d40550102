"""Execute one planned run: train, evaluate, check streaming and time it; return its record.

For each session of the dataset: fit the model on train (model selection on valid), predict the
test split, score it; on the first session also check that streaming reproduces the offline
outputs and measure per-chunk latency. A model marked ``needs_gpu`` trains on CUDA whatever the
suite's device; without a GPU its run is recorded untrained (``trained: false``): parameters,
streaming check and CPU latency of the set-up model, which do not depend on the weights.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench import registry
from bench.data.recording import Recording, load_recording
from bench.errors import BenchError, DataError
from bench.latency import cuda_available, measure_step_latency
from bench.metrics.regression import aggregate_sessions
from bench.models.base import Decoder, chunk_segment
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import Record, SessionResult, Summary
from bench.suite.loader import LoadedSuite
from bench.suite.plan import PlannedRun, trains_here
from bench.suite.schema import DatasetSpec
from bench.tasks.base import TaskData

UNTRAINED_REASON = ("needs_gpu and no CUDA device on this machine: metric not measured; parameters, streaming "
                    "check and latency are of the untrained model")


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise BenchError("The suite asks for device: cuda but no CUDA device is available; use cpu or auto.")
    return device


class DatasetCache:
    """Materialises each dataset once and keeps its recordings and task views in memory."""

    def __init__(self, suite: LoadedSuite, cache_dir: Path | None, progress: bool):
        self.suite, self.cache_dir, self.progress = suite, cache_dir, progress
        self._recordings: dict[str, list[Recording]] = {}
        self._task_data: dict[str, list[TaskData]] = {}

    def recordings(self, ds: DatasetSpec) -> list[Recording]:
        if ds.name not in self._recordings:
            paths = self.suite.source(ds, self.cache_dir).materialize(progress=self.progress)
            recs = [load_recording(p) for p in paths]
            if not recs:
                raise DataError(f"Dataset '{ds.name}' has no recordings.")
            self._recordings[ds.name] = recs
        return self._recordings[ds.name]

    def task_data(self, ds: DatasetSpec) -> list[TaskData]:
        if ds.name not in self._task_data:
            task = self.suite.task(ds)
            chunk_s = self.suite.spec.chunk_ms / 1000.0
            self._task_data[ds.name] = [task.prepare(r, chunk_s) for r in self.recordings(ds)]
        return self._task_data[ds.name]


def measure_latency(model: Decoder, data: TaskData, suite: LoadedSuite, device: str) -> dict:
    """Per-chunk latency of ``model.step`` at batch 1 on the test chunks of one session."""
    lat = suite.spec.latency
    chunks = [c for seg in data.segments("test") for c in chunk_segment(seg, data.chunk_s)]
    model.to(device)
    model.reset(data.recording)
    stats = measure_step_latency(
        model.step, chunks, warmup=lat.warmup, n_timed=lat.n_chunks, budget_ms=lat.budget_ms,
        chunk_ms=suite.spec.chunk_ms, device=device, threads=lat.threads if device == "cpu" else None,
        reset=lambda: model.reset(data.recording),
    )
    return stats.to_dict()


def streaming_diff(model: Decoder, segment, offline: np.ndarray, chunk_s: float) -> float | None:
    """Max |streamed - offline| over one segment; None when the offline outputs are constant (an
    untrained model with a zero-initialised readout), where equality would prove nothing."""
    if offline.size == 0 or np.ptp(offline, axis=0).max() <= 1e-6:
        return None
    return float(np.max(np.abs(model.stream(segment, chunk_s) - offline)))


def _record(run: PlannedRun, suite: LoadedSuite, **result) -> Record:
    task = suite.task(run.dataset)
    return Record(
        suite=suite.spec.name, model=run.model.name, label=run.model.display, dataset=run.dataset.name,
        seed=run.seed, key=run.key, identity=run.identity, config=run.config, task=task.registry_name,
        metric=task.primary_metric, higher_is_better=task.higher_is_better, **result,
    )


def execute_run(run: PlannedRun, suite: LoadedSuite, cache: DatasetCache, device: str, progress: bool) -> Record:
    if not trains_here(run):
        return execute_untrained(run, suite, cache)
    if run.model.needs_gpu:
        device = "cuda"
    started = provenance(device)
    cls = registry.models.get(run.model.name)
    task = suite.task(run.dataset)
    params = suite.model_params(run.model)
    train_cfg = suite.train_config(run.model)
    datas = cache.task_data(run.dataset)
    chunk_s = suite.spec.chunk_ms / 1000.0
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
    return _record(
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
    model: Decoder = cls(suite.model_params(run.model), seed=run.seed, device="cpu")
    model.initialise(group)
    test = group[0].segments("test")
    stream_diff = None
    if suite.spec.check_streaming and model.streams_like_predict:
        stream_diff = streaming_diff(model, test[0], model.predict(test[:1])[0], suite.spec.chunk_ms / 1000.0)
    latency = {"cpu": measure_latency(model, group[0], suite, "cpu")} if suite.spec.latency.enabled else {}
    return _record(
        run, suite, trained=False, untrained_reason=UNTRAINED_REASON, summary=None, sessions=[],
        n_parameters=int(model.n_parameters()), latency=latency, streaming_max_abs_diff=stream_diff,
        train_seconds=0.0, eval_seconds=0.0, provenance=finish_provenance(started),
    )
