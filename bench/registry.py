"""Name -> class registries for models, tasks and data sources.

Built-ins register with a decorator when their module is imported; outside packages add
entries through Python entry points (groups ``bench.models``, ``bench.tasks``,
``bench.data_sources``), each pointing at a module to import or at the class itself.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, TypeVar

from bench.errors import SuiteError

T = TypeVar("T")

# Modules whose import registers the built-in entries.
BUILTIN_MODULES = (
    "bench.data.sources",
    "bench.data.simulator",
    "bench.data.importer",
    "bench.tasks.reaching",
    "bench.tasks.reach_direction",
    "baselines",
    "possm",
)


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorator(cls: type[T]) -> type[T]:
            if name in self._entries and self._entries[name] is not cls:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            cls.registry_name = name  # type: ignore[attr-defined]
            self._entries[name] = cls
            return cls

        return decorator

    def get(self, name: str) -> type[T]:
        load_all()
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise SuiteError(
                f"Unknown {self.kind} '{name}'. Registered {self.kind}s: "
                f"{', '.join(sorted(self._entries))}.{hint}"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        load_all()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, type[T]]]:
        load_all()
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: str) -> bool:
        load_all()
        return name in self._entries


models: Registry = Registry("model", "bench.models")
tasks: Registry = Registry("task", "bench.tasks")
data_sources: Registry = Registry("data source", "bench.data_sources")

_loaded = False


def load_all() -> None:
    """Import built-in modules and entry points once, so every registration has run."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for registry in (models, tasks, data_sources):
        for ep in entry_points(group=registry.entry_point_group):
            obj = ep.load()
            if isinstance(obj, type) and ep.name not in registry._entries:
                registry.register(ep.name)(obj)
