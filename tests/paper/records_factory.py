"""Tiny result records for the paper tests, written the way the suite runner writes them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.results.records import CurvePoint, Record, SessionResult, Summary, write_record


def session(rid: str, value: float, metric: str = "r2", fit: dict | None = None, points=(), **metrics) -> SessionResult:
    return SessionResult(recording_id=rid, n_units=10, metrics={metric: value, **metrics}, n_parameters=100,
                         fit=fit or {"best_epoch": 3, "epochs_run": 8, "stopped_early": True, "hit_time_cap": False},
                         train_seconds=1.0, eval_seconds=0.1, points=list(points))


def record(label: str, dataset: str, seed: int, sessions: list[SessionResult], *, metric: str = "r2",
           task: str = "reaching_velocity", protocol: str = "train_eval", epochs: int = 10, status: str = "ok",
           trained: bool = True, stream: float | None = 1e-6, latency: dict | None = None, n_parameters: int = 1000,
           suite: str = "nhp", higher: bool = True) -> Record:
    values = [s.metrics[metric] for s in sessions]
    ok = status == "ok" and trained and values
    return Record(
        suite=suite, protocol=protocol, model=label, label=label, dataset=dataset, seed=seed,
        key=hashlib.sha1(f"{label}{dataset}{seed}{protocol}".encode()).hexdigest()[:10], identity={"model": {"name": label}},
        config={"train": {"epochs": epochs}}, task=task, metric=metric, higher_is_better=higher, trained=trained,
        untrained_reason=None if trained else "needs_gpu and no CUDA device on this machine",
        status=status, failure_reason="diverged: loss nan" if status == "failed" else None,
        summary=Summary(mean=sum(values) / len(values), sd=0.0, n=len(values)) if ok else None,
        sessions=sessions if status == "ok" else [], n_parameters=n_parameters, latency=latency or {},
        streaming_max_abs_diff=stream, train_seconds=1.0, eval_seconds=0.1, provenance={"cpu": "test"},
    )


def write(results: Path, folder: str, *records: Record) -> None:
    for r in records:
        write_record(results / folder, r)


def lat(median: float, chunk_ms: float = 50.0, device: str = "cpu") -> dict:
    return {device: {"device": device, "threads": 1 if device == "cpu" else None, "chunk_ms": chunk_ms,
                     "median_ms": median, "p99_ms": 2 * median, "n_chunks": 10}}


__all__ = ["CurvePoint", "lat", "record", "session", "write"]
