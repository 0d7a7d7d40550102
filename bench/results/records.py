"""Result records: one JSON file per (model, dataset, seed, config hash), written atomically.

A record is only ever written complete (temp file + rename), so a killed run leaves either a
full record or none; a rerun skips records that exist and redoes only the missing ones.
Each record carries provenance: git commit, package versions, machine, device, threads,
train and evaluation time.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("neural-decoder-bench", "torch", "numpy", "scikit-learn", "pandas", "h5py", "temporaldata", "pydantic")


def config_hash(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def record_name(model: str, dataset: str, seed: int, chash: str) -> str:
    safe = lambda s: "".join(c if c.isalnum() or c in "-_." else "_" for c in s)  # noqa: E731
    return f"{safe(model)}__{safe(dataset)}__seed{seed}__{chash}.json"


def records_dir(suite_dir: Path) -> Path:
    return suite_dir / "records"


def write_record(suite_dir: Path, name: str, record: dict) -> Path:
    """Atomically write ``record`` as records/<name>."""
    folder = records_dir(suite_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True, default=_jsonable)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / name)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return folder / name


def _jsonable(obj: Any):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_records(suite_dir: Path) -> list[dict]:
    folder = records_dir(suite_dir)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            continue  # cannot happen with atomic writes; ignore foreign files
    return out


def _git_commit() -> dict:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        pass
    return {"commit": None, "dirty": None}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(device: str) -> dict:
    import torch

    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    info = {
        "git": _git_commit(),
        "packages": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def finish_provenance(started: dict) -> dict:
    """Complete provenance taken when a run *started* (``provenance``) as the run ends.

    The code that produced a result is the checkout at the start: a long run during which the tree
    is committed or edited keeps that commit, and what the tree was at the end goes beside it
    (``git_at_finish``) so a reader can see the run spanned a change, never in its place.
    """
    info = dict(started)
    info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    at_finish = _git_commit()
    if at_finish != started.get("git"):
        info["git_at_finish"] = at_finish
    return info
