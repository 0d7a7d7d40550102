"""Provenance of a result: which code, packages and machine produced it.

Taken when a run *starts* (the code that produced a result is the checkout at the start) and
completed when it ends, so a run during which the tree was committed or edited says so.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("neural-decoder-bench", "torch", "numpy", "scikit-learn", "pandas", "h5py", "temporaldata", "pydantic")


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


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return versions


def provenance(device: str) -> dict:
    """Snapshot at the start of a run: commit, packages, machine, device, threads, time."""
    import torch

    info = {
        "git": _git_commit(),
        "packages": package_versions(),
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
    """Complete a start snapshot as the run ends: the finish time, and ``git_at_finish`` beside
    (never in place of) the starting commit when the checkout changed meanwhile."""
    info = dict(started)
    info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    at_finish = _git_commit()
    if at_finish != started.get("git"):
        info["git_at_finish"] = at_finish
    return info
