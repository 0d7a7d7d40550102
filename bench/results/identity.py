"""What makes two runs the same run: settings that differ from their defaults, plus versions.

A run's key hashes its *identity*: for the model, the task and the data source, their registered
name, their declared ``version`` (bumped by whoever changes their behaviour), the version of the
package that provides them when it is a plugin, and only the parameters that differ from the
defaults; the same for the training and latency settings; and the seed. So adding a parameter
with a default leaves every existing key valid, while a behaviour change, declared as a version
bump, makes exactly the affected records stale.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined, to_jsonable_python

def field_defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """JSON values of the fields of ``cls`` that have a default (required fields are left out)."""
    out = {}
    for name, field in cls.model_fields.items():
        if field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        if default is not PydanticUndefined:
            out[name] = to_jsonable_python(default)
    return out


def non_default(values: BaseModel | dict, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of ``values`` that differ from ``defaults`` (by default its class's defaults)."""
    if isinstance(values, BaseModel):
        defaults = field_defaults(type(values)) if defaults is None else defaults
        values = values.model_dump(mode="json")
    defaults = defaults or {}
    return {k: v for k, v in sorted(values.items()) if k not in defaults or defaults[k] != v}


def declared_version(cls: type, kind: str | None = None) -> int:
    """``cls.version``, or for a model whose behaviour changed on one task kind only, its
    ``kind_versions[kind]``: records of the other kinds, which would be remade identically,
    keep their keys."""
    per_kind = getattr(cls, "kind_versions", None) or {}
    return int(per_kind.get(kind, getattr(cls, "version", 1)))


def component(name: str, cls: type, params: dict[str, Any],
              provider: tuple[str, str | None] | None = None, kind: str | None = None) -> dict[str, Any]:
    """Identity of a registered model / task / data source with its non-default parameters;
    ``provider`` is the (package, version) of a plugin, None for this project's own components;
    ``kind`` the task kind a model runs on (see :func:`declared_version`)."""
    out: dict[str, Any] = {"name": name, "version": declared_version(cls, kind)}
    if provider is not None:
        out["package"], out["package_version"] = provider
    if params:
        out["params"] = params
    return out


def identity_key(identity: dict[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict) or not d:
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Readable differences between two identities, e.g. ``model.version: 1 -> 2``."""
    a, b = _flatten(old), _flatten(new)
    lines = []
    for path in sorted(set(a) | set(b)):
        if a.get(path, "(default)") != b.get(path, "(default)"):
            lines.append(f"{path}: {a.get(path, '(default)')} -> {b.get(path, '(default)')}")
    return lines
