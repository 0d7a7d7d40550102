"""Command-line options as changes to a suite file: ``bench latency --threads 2`` is the suite
suites/latency.yaml with ``latency.threads: 2``. The changed top-level fields go to
``load_suite(path, overrides)``, so runs made with options have the identity of what they ran."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from bench.errors import SuiteError


def _set(target: dict, path: list[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def suite_overrides(path: str | Path, changes: dict[str, Any], models: list[str] | None = None) -> dict:
    """Top-level fields of the suite at ``path`` with ``changes`` applied: dotted field paths
    (``latency.threads``; ``datasets.params.preset`` changes every dataset) to values, None
    meaning "as the file says". ``models``: only these, as the file configures them where it
    lists them, with their defaults otherwise."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"Suite file {path} does not exist.")
    raw = yaml.safe_load(path.read_text()) or {}
    out: dict[str, Any] = {}
    for dotted, value in changes.items():
        if value is None:
            continue
        top, *rest = dotted.split(".")
        if not rest:
            out[top] = value
            continue
        if top not in out:
            current = copy.deepcopy(raw.get(top, {}))
            out[top] = {"name": current} if isinstance(current, str) else current
        for target in out[top] if isinstance(out[top], list) else [out[top]]:
            _set(target, rest, value)
    if models:
        listed = {m.get("label") or m["name"]: m for m in raw.get("models", [])}
        out["models"] = [listed.get(name, {"name": name}) for name in models]
    return out
