"""Install an example plugin for one test as pip would: its folder on sys.path and the entry
points its pyproject declares added to the ones the registry reads."""

import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from bench import registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def install_example(monkeypatch):
    registry.load_all()
    monkeypatch.setattr(registry, "_loaded", False)
    for reg in (registry.models, registry.tasks, registry.data_sources):
        monkeypatch.setattr(reg, "_entries", dict(reg._entries))
        monkeypatch.setattr(reg, "_bound", {})
    added: dict[str, list[EntryPoint]] = {}
    installed = registry.declared_entry_points
    monkeypatch.setattr(registry, "declared_entry_points", lambda group: installed(group) + added.get(group, []))
    modules = []

    def install(name: str) -> None:
        folder = EXAMPLES / name
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        for group, declared in project["entry-points"].items():
            added.setdefault(group, []).extend(EntryPoint(n, v, group) for n, v in declared.items())
            modules.extend(v.split(":")[0] for v in declared.values())
        monkeypatch.syspath_prepend(str(folder))

    yield install
    for module in modules:
        sys.modules.pop(module, None)
