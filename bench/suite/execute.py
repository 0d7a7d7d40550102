"""Execute planned runs through the suite's protocol, with what every protocol shares: the
datasets loaded once (``DatasetCache``), the device, per-chunk latency, the streaming check and
the record of a run. What a run does is the protocol's (``bench.protocols``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from bench.data.recording import Recording
from bench.data.storage import load_recording
from bench.errors import BenchError, DataError
from bench.latency import cuda_available, measure_step_latency
from bench.models.base import Decoder, chunk_segment
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import Record
from bench.suite.loader import LoadedSuite
from bench.suite.plan import PlannedRun
from bench.suite.schema import DatasetSpec
from bench.tasks.base import TaskData, check_task_data
from bench.training.loop import TrainingDiverged


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise BenchError("The suite asks for device: cuda but no CUDA device is available; use cpu or auto.")
    return device


class DatasetCache:
    """The one way to load a suite's datasets: each is materialised once (only the ``sessions`` the
    suite selects) and its recordings and task views are kept in memory."""

    def __init__(self, suite: LoadedSuite, cache_dir: Path | None, progress: bool):
        self.suite, self.cache_dir, self.progress = suite, cache_dir, progress
        self._recordings: dict[str, list[Recording]] = {}
        self._task_data: dict[str, list[TaskData]] = {}

    def recordings(self, ds: DatasetSpec) -> list[Recording]:
        if ds.name not in self._recordings:
            paths = self.suite.source(ds, self.cache_dir).materialize(progress=self.progress)
            recs = [load_recording(p) for p in select_sessions(paths, ds, self.suite.path)]
            if not recs:
                raise DataError(f"Dataset '{ds.name}' has no recordings.")
            self._recordings[ds.name] = recs
        return self._recordings[ds.name]

    def task_data(self, ds: DatasetSpec) -> list[TaskData]:
        if ds.name not in self._task_data:
            task = self.suite.task(ds)
            chunk_s = self.suite.chunk_s(ds)
            prepared = [task.prepare(r, chunk_s) for r in self.recordings(ds)]
            for data in prepared:  # every task's data, whether or not its prepare checks it itself
                check_task_data(data, ds.task.name if ds.task else self.suite.spec.task.name)
            self._task_data[ds.name] = prepared
        return self._task_data[ds.name]


def select_sessions(paths: list, ds: DatasetSpec, suite_file) -> list:
    """The recordings of ``paths`` the dataset's ``sessions`` names (all when it names none)."""
    if ds.sessions is None:
        return paths
    bad = [i for i in ds.sessions if not 0 <= i < len(paths)]
    if bad:
        raise DataError(f"Suite file {suite_file}: dataset '{ds.name}' selects sessions {bad}, but its source has "
                        f"{len(paths)} recording(s) (indices 0..{len(paths) - 1}).")
    return [paths[i] for i in ds.sessions]


def measure_latency(model: Decoder, data: TaskData, suite: LoadedSuite, device: str) -> dict:
    """Per-chunk latency of ``model.step`` at batch 1 on the test chunks of one session."""
    lat = suite.spec.latency
    chunks = [c for seg in data.segments("test") for c in chunk_segment(seg, data.chunk_s)]
    model.to(device)
    model.reset(data.recording)
    stats = measure_step_latency(
        model.step, chunks, warmup=lat.warmup, n_timed=lat.n_chunks, budget_ms=lat.budget_ms,
        chunk_ms=data.chunk_s * 1000.0, device=device, threads=lat.threads if device == "cpu" else None,
        reset=lambda: model.reset(data.recording),
    )
    return stats.to_dict()


def streaming_diff(model: Decoder, segment, offline: np.ndarray, chunk_s: float) -> float | None:
    """Max |streamed - offline| over one segment; None when the offline outputs are constant (an
    untrained model with a zero-initialised readout), where equality would prove nothing. A
    segment with one query (a classification read out once) is constant when its logits are."""
    if offline.size == 0:
        return None
    spread = np.ptp(offline) if offline.shape[0] == 1 else np.ptp(offline, axis=0).max()
    if spread <= 1e-6:
        return None
    return float(np.max(np.abs(model.stream(segment, chunk_s) - offline)))


def output_scale(offline: np.ndarray) -> float | None:
    """The scale a streaming difference is judged against (``bench.results.flags``): max |output|."""
    return float(np.max(np.abs(offline))) if np.size(offline) else None


def make_record(run: PlannedRun, suite: LoadedSuite, **result) -> Record:
    """The record of ``run``: its identity and settings, the task's metric, and ``result``."""
    task = suite.task(run.dataset)
    return Record(
        suite=suite.spec.name, protocol=suite.spec.protocol.name, model=run.model.name, label=run.model.display,
        dataset=run.dataset.name, seed=run.seed, key=run.key, identity=run.identity, config=run.config,
        task=task.registry_name, metric=task.primary_metric, higher_is_better=task.higher_is_better, **result,
    )


def execute_runs(runs: list[PlannedRun], suite: LoadedSuite, cache: DatasetCache, device: str,
                 progress: bool, out: Path | None = None) -> Iterator[Record]:
    """The records of ``runs`` (one dataset and seed when the protocol runs models together), made
    by the suite's protocol; ``out``: the run folder, where protocols keep per-session checkpoints."""
    from bench.protocols import RunContext, get_protocol

    protocol = get_protocol(suite.spec.protocol.name)
    ctx = RunContext(suite, cache, device, progress, suite.protocol_params(), out)
    for group in [list(runs)] if protocol.together else [[r] for r in runs]:
        done: set[str] = set()
        try:
            for record in protocol.execute(group, ctx):
                done.add(record.file_name)
                yield record
        except TrainingDiverged as exc:  # the runs of the group not yet recorded are recorded failed
            for run in group:
                if run.name not in done:
                    yield failed_record(run, suite, device, str(exc))


def failed_record(run: PlannedRun, suite: LoadedSuite, device: str, reason: str) -> Record:
    """The record of a run whose training diverged: its identity and the reason, no metric, so that
    tables show it failed and a rerun does not silently retrain it into a score."""
    return make_record(
        run, suite, status="failed", failure_reason=reason, summary=None, sessions=[], n_parameters=0, latency={},
        streaming_max_abs_diff=None, train_seconds=0.0, eval_seconds=0.0,
        provenance=finish_provenance(provenance(device)),
    )


