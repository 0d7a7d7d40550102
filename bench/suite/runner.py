"""Run a suite: every model x dataset x seed, resumable, one record per run.

For each run and each session of the dataset: prepare the task, fit the model on train (model
selection on valid), predict the test split, score it; on the first session also check that
streaming reproduces the offline outputs and measure per-chunk latency. The record is written
atomically only when the whole run succeeded.

A model marked ``needs_gpu`` trains on CUDA whatever the suite's device. Without a GPU its run
is recorded untrained (``"trained": false``): parameters, streaming check and CPU latency of
the set-up model, which do not depend on the weights, and no metric; a later run on a machine
with a GPU treats such a record as missing and replaces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bench import registry
from bench.data.recording import Recording, load_recording
from bench.errors import BenchError, DataError
from bench.latency import cuda_available, measure_step_latency
from bench.metrics.regression import aggregate_sessions
from bench.models.base import Decoder, chunk_segment
from bench.results.records import (
    config_hash,
    finish_provenance,
    load_records,
    provenance,
    record_name,
    records_dir,
    write_record,
)
from bench.suite.loader import LoadedSuite, load_suite
from bench.suite.schema import DatasetSpec, ModelSpec
from bench.tasks.base import TaskData

RECORD_FORMAT = 1


@dataclass
class PlannedRun:
    model: ModelSpec
    dataset: DatasetSpec
    seed: int
    chash: str
    name: str
    config: dict


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise BenchError("The suite asks for device: cuda but no CUDA device is available; use cpu or auto.")
    return device


def plan_runs(suite: LoadedSuite) -> list[PlannedRun]:
    spec = suite.spec
    runs = []
    for ds in spec.datasets:
        task_spec = spec.task_for(ds)
        for m in spec.models:
            config = {
                "record_format": RECORD_FORMAT,
                "model": m.name,
                "model_params": suite.model_params(m).model_dump(mode="json"),
                "train": suite.train_config(m).model_dump(mode="json"),
                "task": task_spec.model_dump(mode="json"),
                "dataset": {"source": ds.source, "params": ds.params},
                "chunk_ms": spec.chunk_ms,
                "latency": spec.latency.model_dump(mode="json"),
            }
            if m.needs_gpu:  # only when set, so the hashes of existing records stay unchanged
                config["needs_gpu"] = True
            for seed in spec.seeds:
                chash = config_hash({**config, "seed": seed})
                runs.append(PlannedRun(m, ds, seed, chash, record_name(m.display, ds.name, seed, chash), config))
    return runs


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


def _latency(model: Decoder, data: TaskData, suite: LoadedSuite, device: str) -> dict:
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


def _streaming_diff(model: Decoder, segment, offline: np.ndarray, chunk_s: float) -> float | None:
    """Max |streamed - offline| over one segment; None when the offline outputs are constant (an
    untrained model with a zero-initialised readout), where equality would prove nothing."""
    if offline.size == 0 or np.ptp(offline, axis=0).max() <= 1e-6:
        return None
    return float(np.max(np.abs(model.stream(segment, chunk_s) - offline)))


def trains_here(run: PlannedRun) -> bool:
    """False for a ``needs_gpu`` run on a machine without CUDA (it is then recorded untrained)."""
    return not run.model.needs_gpu or cuda_available()


def is_untrained(record: dict) -> bool:
    return record.get("trained", True) is False


def execute_run(run: PlannedRun, suite: LoadedSuite, cache: DatasetCache, device: str, progress: bool) -> dict:
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
    sessions, latency, stream_diff, stream_checked, n_params = [], {}, None, False, []
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
            eval_s = time.perf_counter() - t1
            sessions.append({
                "recording_id": data.recording.recording_id,
                "n_units": data.recording.n_units,
                "metrics": metrics,
                "n_parameters": n_params[-1],
                "fit": fit_report,
                "train_seconds": train_s / len(group),
                "eval_seconds": eval_s,
            })
            if not stream_checked and suite.spec.check_streaming and model.streams_like_predict:
                stream_diff, stream_checked = _streaming_diff(model, test[0], preds[0], chunk_s), True
                model.to(device)
            if not latency and suite.spec.latency.enabled:
                latency["cpu"] = _latency(model, data, suite, "cpu")
                if suite.spec.latency.cuda and cuda_available() and model.to("cuda"):
                    latency["cuda"] = _latency(model, data, suite, "cuda")
                model.to(device)
    values = [s["metrics"][task.primary_metric] for s in sessions]
    return {
        **_record_head(run, suite),
        "trained": True,
        "summary": aggregate_sessions(values),
        "sessions": sessions,
        "n_parameters": int(np.median(n_params)),
        "latency": latency,
        "streaming_max_abs_diff": stream_diff,
        "train_seconds": float(sum(s["train_seconds"] for s in sessions)),
        "eval_seconds": float(sum(s["eval_seconds"] for s in sessions)),
        "provenance": finish_provenance(started),
    }


def _record_head(run: PlannedRun, suite: LoadedSuite) -> dict:
    task = suite.task(run.dataset)
    return {
        "suite": suite.spec.name,
        "model": run.model.name,
        "label": run.model.display,
        "dataset": run.dataset.name,
        "seed": run.seed,
        "config_hash": run.chash,
        "config": run.config,
        "task": task.registry_name,
        "metric": task.primary_metric,
        "higher_is_better": task.higher_is_better,
    }


def execute_untrained(run: PlannedRun, suite: LoadedSuite, cache: DatasetCache) -> dict:
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
        stream_diff = _streaming_diff(model, test[0], model.predict(test[:1])[0], suite.spec.chunk_ms / 1000.0)
    latency = {"cpu": _latency(model, group[0], suite, "cpu")} if suite.spec.latency.enabled else {}
    return {
        **_record_head(run, suite),
        "trained": False,
        "untrained_reason": "needs_gpu and no CUDA device on this machine: metric not measured; parameters, "
                            "streaming check and latency are of the untrained model",
        "summary": None,
        "sessions": [],
        "n_parameters": int(model.n_parameters()),
        "latency": latency,
        "streaming_max_abs_diff": stream_diff,
        "train_seconds": 0.0,
        "eval_seconds": 0.0,
        "provenance": finish_provenance(started),
    }


def _run_in_worker(suite_path: str, run_name: str, results_dir: str, cache_dir: str | None, jobs: int) -> dict:
    """Execute one planned run in a worker process and write its record (atomic)."""
    import torch

    suite = load_suite(suite_path)
    torch.set_num_threads(suite.spec.threads)
    run = next(r for r in plan_runs(suite) if r.name == run_name)
    cache = DatasetCache(suite, Path(cache_dir) if cache_dir else None, progress=False)
    record = execute_run(run, suite, cache, resolve_device(suite.spec.device), progress=False)
    record["provenance"]["parallel_jobs"] = jobs
    write_record(Path(results_dir) / suite.spec.name, run.name, record)
    return record


def _describe(record: dict) -> str:
    s = record["summary"]
    lat = record["latency"].get("cpu", {})
    metric = "untrained (needs GPU)" if is_untrained(record) else f"{record['metric']} {s['mean']:.3f} +- {s['sd']:.3f} (n={s['n']})"
    return (
        f"  {record['label']:>14s} {record['dataset']:>12s} seed {record['seed']}: "
        f"{metric}, "
        f"{record['n_parameters']:,} params, CPU {lat.get('median_ms', float('nan')):.3f} ms/chunk, "
        f"train {record['train_seconds']:.1f}s"
    )


def run_suite(
    path: str | Path,
    results_dir: str | Path = "results",
    cache_dir: Path | None = None,
    progress: bool = True,
    only_models: list[str] | None = None,
    jobs: int | None = None,
    log=print,
) -> Path:
    """Run every missing record of the suite, then rebuild its tables. Returns the suite folder.

    With ``jobs > 1`` runs train in parallel worker processes; datasets are materialised first
    in this process so workers only read them. Latency is then measured while other runs train:
    use ``python -m bench.benchmarks.latency`` for side-by-side timings on an idle machine.
    """
    import torch
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing

    from bench.results.tables import build_report

    suite = load_suite(path)
    device = resolve_device(suite.spec.device)
    torch.set_num_threads(suite.spec.threads)
    jobs = jobs or suite.spec.jobs
    suite_dir = Path(results_dir) / suite.spec.name
    runs = plan_runs(suite)
    if only_models:
        runs = [r for r in runs if r.model.display in only_models or r.model.name in only_models]
    done = {p.name for p in records_dir(suite_dir).glob("*.json")} if records_dir(suite_dir).is_dir() else set()
    if cuda_available():  # untrained records (made without a GPU) are redone where one is present
        done -= {record_name(r["label"], r["dataset"], r["seed"], r["config_hash"])
                 for r in load_records(suite_dir) if is_untrained(r)}
    todo = [r for r in runs if r.name not in done]
    log(f"suite {suite.spec.name}: {len(runs)} runs, {len(runs) - len(todo)} already recorded, {len(todo)} to run"
        + (f" ({jobs} in parallel)" if jobs > 1 and todo else ""))
    no_gpu = sorted({r.model.display for r in todo if not trains_here(r)})
    if no_gpu:
        log(f"no CUDA device: {', '.join(no_gpu)} (needs_gpu) will be recorded untrained: parameters, streaming "
            "check and CPU latency only; run the suite again on a machine with a GPU to train them")
    cache = DatasetCache(suite, cache_dir, progress)
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc=suite.spec.name, disable=not progress, dynamic_ncols=True)
    if jobs > 1 and len(todo) > 1:
        for ds in {r.dataset.name: r.dataset for r in todo}.values():
            cache.recordings(ds)  # materialise once, here, before the workers read the files
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {
                pool.submit(_run_in_worker, str(suite.path), r.name, str(results_dir),
                            str(cache_dir) if cache_dir else None, jobs): r
                for r in todo
            }
            for fut in as_completed(futures):
                record = fut.result()
                bar.update()
                tqdm.write(_describe(record))
    else:
        for run in todo:
            bar.set_postfix_str(f"{run.model.display} / {run.dataset.name} / seed {run.seed}")
            record = execute_run(run, suite, cache, device, progress)
            write_record(suite_dir, run.name, record)
            bar.update()
            tqdm.write(_describe(record))
    bar.close()
    log(f"ran {len(todo)} runs in {time.perf_counter() - t0:.1f}s")
    wanted = {r.name for r in plan_runs(suite)}
    stored = load_records(suite_dir)
    records = [r for r in stored if record_name(r["label"], r["dataset"], r["seed"], r["config_hash"]) in wanted]
    stale = len(stored) - len(records)
    if stale:
        log(f"{stale} record(s) in {records_dir(suite_dir)} match no run of the suite as it now stands (an older "
            "configuration, or a model / dataset since removed); the tables leave them out")
    paths = build_report(suite_dir, records, suite)
    for p in paths:
        log(f"wrote {p}")
    return suite_dir
