"""Convert records of format 1 (key = hash of every setting, defaults included) to format 2.

A format-1 record stores every resolved setting, so its format-2 identity (non-default settings
plus versions, ``bench.results.identity``) is computed from it without retraining; the record
file is rewritten under its new key and the old file removed.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.results.identity import identity_key
from bench.results.records import Record, record_files, write_record


def upgrade_v1(raw: dict, device: str) -> Record:
    from bench import registry
    from bench.suite.plan import run_identity

    cfg = raw["config"]
    source_cls = registry.data_sources.get(cfg["dataset"]["source"])
    source_params = source_cls.Params(**cfg["dataset"]["params"]).model_dump(mode="json")
    task_cls = registry.tasks.get(cfg["task"]["name"])
    task_params = task_cls.Params(**cfg["task"]["params"]).model_dump(mode="json")
    needs_gpu = bool(cfg.get("needs_gpu", False))
    identity = run_identity(
        model=cfg["model"], model_params=cfg["model_params"], train=cfg["train"], task=cfg["task"]["name"],
        task_params=task_params, source=cfg["dataset"]["source"], source_params=source_params,
        chunk_ms=cfg["chunk_ms"], latency=cfg["latency"], device=device, needs_gpu=needs_gpu, seed=raw["seed"],
    )
    config = {
        "model": cfg["model"], "model_params": cfg["model_params"], "train": cfg["train"],
        "task": {"name": cfg["task"]["name"], "params": task_params},
        "dataset": {"source": cfg["dataset"]["source"], "params": source_params},
        "chunk_ms": cfg["chunk_ms"], "latency": cfg["latency"], "device": device, "needs_gpu": needs_gpu,
    }
    body = {k: v for k, v in raw.items() if k not in ("config_hash", "config")}
    return Record(**body, key=identity_key(identity), identity=identity, config=config)


def migrate_folder(suite, out: Path) -> list[Path]:
    """Rewrite every format-1 record of ``out`` in format 2; returns the new files."""
    written = []
    for path in record_files(out):
        raw = json.loads(path.read_text())
        if raw.get("config", {}).get("record_format") != 1:
            continue
        new = write_record(out, upgrade_v1(raw, suite.spec.device))
        if new != path:
            path.unlink()
        written.append(new)
    return written
