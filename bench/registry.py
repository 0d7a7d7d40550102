"""Name -> class registries for models, tasks and data sources.

Built-ins and plugins register the same way: a package declares Python entry points in the groups
``bench.models``, ``bench.tasks`` and ``bench.data_sources`` (this project's pyproject declares
its own packages there). An entry point names either a module or package, which is imported with
all its submodules so that every ``@models.register(...)`` in it runs (a new file with a
decorator is found without editing a list), or a class, registered under the entry point's name.
A name registered by two providers (built-in or plugin alike) is an error naming both.

Models may also register named presets of one class (sizes as data): ``get(name)`` then returns
the class bound to the preset (see ``bench.models.presets``), and ``defaults`` / ``params`` /
``preset`` give the preset's values.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, packages_distributions, version
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from bench.errors import BenchError, SuiteError
from bench.models.presets import Preset, bind

T = TypeVar("T")

DISTRIBUTION = "neural-decoder-bench"
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


class RegistrationError(BenchError):
    """Two providers registered the same name, or an entry point does not name a module or class."""


@dataclass(frozen=True)
class Registration:
    name: str
    cls: type
    provider: str  # where it came from, for error messages and `bench list`
    preset: Preset | None = None

    def same_as(self, other: "Registration") -> bool:
        """The same class and preset (a reloaded module re-registers its own names)."""
        same_class = self.cls is other.cls or (
            (self.cls.__module__, self.cls.__qualname__) == (other.cls.__module__, other.cls.__qualname__))
        return same_class and self.preset == other.preset


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Registration] = {}
        self._bound: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register the class under ``name``."""

        def decorator(cls: type[T]) -> type[T]:
            self.add(Registration(name, cls, _provider(cls)))
            cls.registry_name = name  # type: ignore[attr-defined]
            return cls

        return decorator

    def add(self, entry: Registration) -> None:
        old = self._entries.get(entry.name)
        if old is not None and not old.same_as(entry):
            raise RegistrationError(
                f"{self.kind.capitalize()} name '{entry.name}' is registered twice: by {old.provider} and by "
                f"{entry.provider}. Names must be unique across the harness and every installed plugin "
                f"(entry-point group '{self.entry_point_group}'); rename one of them."
            )
        self._entries[entry.name] = entry
        self._bound.pop(entry.name, None)

    def registration(self, name: str) -> Registration:
        load_all()
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise SuiteError(
                f"Unknown {self.kind} '{name}'. Registered {self.kind}s: "
                f"{', '.join(sorted(self._entries))}.{hint}"
            )
        return self._entries[name]

    def get(self, name: str) -> type[T]:
        """The class to instantiate for ``name`` (for a preset, the class bound to it)."""
        entry = self.registration(name)
        if entry.preset is None:
            return entry.cls
        if name not in self._bound:
            self._bound[name] = bind(entry.cls, name, entry.preset)
        return self._bound[name]

    def names(self) -> list[str]:
        load_all()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, type[T]]]:
        return iter([(name, self.get(name)) for name in self.names()])

    def __contains__(self, name: str) -> bool:
        load_all()
        return name in self._entries


class ModelRegistry(Registry[T]):
    """Models, plus presets: several names for one decoder class with different parameter values."""

    def register_presets(self, presets: Mapping[str, Preset]) -> Callable[[type[T]], type[T]]:
        """Class decorator: register one model name per preset, all resolving to this class."""

        def decorator(cls: type[T]) -> type[T]:
            for name, preset in presets.items():
                self.add(Registration(name, cls, _provider(cls), preset))
            return cls

        return decorator

    def preset(self, name: str) -> Preset | None:
        """The preset ``name`` stands for (None for a model registered without one)."""
        return self.registration(name).preset

    def base(self, name: str) -> type[T]:
        """The decorated class behind ``name`` (the same class for every preset of it)."""
        return self.registration(name).cls

    def defaults(self, name: str) -> dict[str, Any]:
        """Every parameter of model ``name`` as it runs when a suite sets none: the preset's values
        over the class's defaults. A run's identity is what its parameters change from these."""
        return self.get(name).Params().model_dump()  # type: ignore[attr-defined]

    def params(self, name: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """Validated parameters of model ``name`` with ``overrides`` (a suite's ``params``) over its
        defaults; raises pydantic's ValidationError on unknown fields or bad values."""
        return self.get(name).Params(**dict(overrides or {}))  # type: ignore[attr-defined]


models: ModelRegistry = ModelRegistry("model", "bench.models")
tasks: Registry = Registry("task", "bench.tasks")
data_sources: Registry = Registry("data source", "bench.data_sources")

_loaded = False
_loading: str | None = None  # the entry point being loaded, named in registrations it makes


def _provider(cls: type) -> str:
    where = f"{cls.__module__}.{cls.__qualname__}"
    return f"{where} ({_loading})" if _loading else where


def load_all() -> None:
    """Load every declared entry point once, so every registration has run."""
    global _loaded, _loading
    if _loaded:
        return
    _loaded = True
    try:
        for registry in (models, tasks, data_sources):
            for ep in declared_entry_points(registry.entry_point_group):
                _loading = _describe(ep)
                _load_entry_point(registry, ep)
    except BaseException:
        _loaded = False  # a later call reports the same problem instead of a half-filled registry
        raise
    finally:
        _loading = None


@lru_cache(maxsize=None)
def plugin_provider(cls: type) -> tuple[str, str | None] | None:
    """(distribution, version) of the plugin package that provides ``cls``; None for this project's
    own classes (those under the packages its own entry points declare). Part of a run's identity,
    so a new release of a plugin makes its records stale."""
    top = cls.__module__.split(".")[0]
    if top in _own_packages():
        return None
    dists = packages_distributions().get(top) or [top]
    try:
        return dists[0], version(dists[0])
    except PackageNotFoundError:
        return dists[0], None


@lru_cache(maxsize=None)
def _own_packages() -> frozenset[str]:
    tops = {__name__.split(".")[0]}
    for group in (models.entry_point_group, tasks.entry_point_group, data_sources.entry_point_group):
        installed = [ep for ep in entry_points(group=group) if getattr(ep.dist, "name", None) == DISTRIBUTION]
        for ep in installed + _checkout_entry_points(group):
            tops.add(ep.value.split(":")[0].split(".")[0])
    return frozenset(tops)


def declared_entry_points(group: str) -> list[EntryPoint]:
    """Installed entry points of ``group``, plus this project's own from its pyproject when running
    from a source checkout (so an editable install made before a new declaration still finds it)."""
    found = list(entry_points(group=group))
    seen = {(ep.name, ep.value) for ep in found}
    for ep in _checkout_entry_points(group):
        if (ep.name, ep.value) not in seen:
            found.append(ep)
    return found


def _checkout_entry_points(group: str) -> list[EntryPoint]:
    if not _PYPROJECT.is_file():
        return []
    project = tomllib.loads(_PYPROJECT.read_text()).get("project", {})
    if project.get("name") != DISTRIBUTION:
        return []
    declared = project.get("entry-points", {}).get(group, {})
    return [EntryPoint(name, value, group) for name, value in declared.items()]


def _describe(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f"distribution {dist.name}" if dist is not None else DISTRIBUTION
    return f"entry point '{ep.name} = {ep.value}' in group '{ep.group}' of {origin}"


def _load_entry_point(registry: Registry, ep: EntryPoint) -> None:
    obj = ep.load()
    if isinstance(obj, ModuleType):
        import_submodules(obj)
    elif isinstance(obj, type):
        registry.add(Registration(ep.name, obj, _provider(obj)))
        if "registry_name" not in vars(obj):
            obj.registry_name = ep.name  # type: ignore[attr-defined]
    else:
        raise RegistrationError(
            f"The {_describe(ep)} points at {obj!r}; it must name a module (imported so its "
            f"decorators register) or a {registry.kind} class."
        )


def import_submodules(package: ModuleType) -> None:
    """Import every module under ``package`` (recursively), so their decorators run."""
    for info in pkgutil.iter_modules(getattr(package, "__path__", []), package.__name__ + "."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        module = importlib.import_module(info.name)
        if info.ispkg:
            import_submodules(module)
