"""Records for table and page tests, made from a committed record with the fields a test sets."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.results.records import Record, read_record, write_record

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = sorted((ROOT / "results/nhp/records").glob("gru__t_rt__*.json"))[0]


def make_record(label: str, dataset: str, seed: int, values: dict[str, float] | None, *, metric: str = "r2",
                higher_is_better: bool = True, stream: float | None = 1e-5, latency_ms: float = 0.2,
                n_parameters: int = 1000, fit: dict | None = None, task: str = "reaching_velocity") -> Record:
    """One run: ``values`` session -> primary metric (None: an untrained needs-GPU record)."""
    base = read_record(TEMPLATE)
    session = base.sessions[0]
    fit = fit or {"best_epoch": 3, "epochs_run": 10, "stopped_early": True, "hit_time_cap": False}
    sessions = [session.model_copy(update={"recording_id": rid, "metrics": {metric: v}, "fit": fit})
                for rid, v in (values or {}).items()]
    cpu = {**base.latency["cpu"], "median_ms": latency_ms, "p99_ms": 2 * latency_ms}
    return base.model_copy(update={
        "label": label, "model": label, "dataset": dataset, "seed": seed, "key": hashlib.sha1(f"{label}/{dataset}/{seed}".encode()).hexdigest()[:10],
        "metric": metric, "higher_is_better": higher_is_better, "task": task, "sessions": sessions,
        "trained": values is not None, "untrained_reason": None if values is not None else "needs GPU",
        "streaming_max_abs_diff": stream, "latency": {"cpu": cpu}, "n_parameters": n_parameters,
        "summary": None if values is None else base.summary,
    })


def write_records(folder: Path, records: list[Record]) -> Path:
    for rec in records:
        write_record(folder, rec)
    return folder

