"""From a spec as written to one that can be read: recipe merged, paths absolute, inputs checked.

Relative paths resolve against the folder of whatever named the spec (the suite file, the spec
file); a recipe's own file names resolve inside the folder the user gives as its ``path``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import ValidationError

from bench.data.importers.messages import fail, validation_message
from bench.data.importers.recipes import recipe
from bench.data.importers.spec import FORMATS, ImportSpec, validate_spec

PATH_FIELDS = ("path", "targets_path", "behaviour_path", "trials_path")


def path_resolver(base_dir: str | Path | None) -> Callable[[str | Path], Path]:
    """``~`` expanded; relative paths taken from ``base_dir`` (default: the current directory)."""
    base = Path(base_dir) if base_dir else Path.cwd()

    def resolve(p: str | Path) -> Path:
        q = Path(os.path.expanduser(str(p)))
        return q if q.is_absolute() else (base / q).resolve()

    return resolve


def absolute_paths(fields: dict[str, Any], resolve: Callable[[str | Path], Path]) -> dict[str, Any]:
    """A copy of spec fields with every file path (``*_path`` fields, each stream's ``path``) resolved."""
    out = dict(fields)
    for key in PATH_FIELDS:
        if isinstance(out.get(key), str) and out[key]:
            out[key] = str(resolve(out[key]))
    if isinstance(out.get("features"), dict):
        out["features"] = {
            name: {**f, "path": str(resolve(f["path"]))} if isinstance(f, dict) and f.get("path") else f
            for name, f in out["features"].items()
        }
    return out


def apply_recipe(spec: ImportSpec, resolve: Callable[[str | Path], Path]) -> ImportSpec:
    """Merge a recipe under the fields the user set and make every path absolute."""
    user = spec.model_dump(exclude_unset=True)
    extra = {k: user.pop(k) for k in ("name", "spec") if k in user}
    if spec.recipe:
        fields = recipe(spec.recipe)
        given = user.pop("path", None)
        if not given:
            raise fail(f"Import recipe '{spec.recipe}' needs 'path': the folder that holds {fields['path']}.")
        where = resolve(given)
        if not where.exists():
            wanted = ", ".join(Path(fields[k]).name for k in PATH_FIELDS if fields.get(k))
            raise fail(
                f"Import folder {where} does not exist (field 'path' of recipe '{spec.recipe}'); expected the "
                f"folder that holds {wanted}."
            )
        if where.is_file():
            folder, fields["path"] = where.parent, str(where)
        else:
            folder = where
        for key in PATH_FIELDS:
            if fields.get(key) is not None:
                fields[key] = str(folder / fields[key])
        merged = {**fields, **absolute_paths(user, resolve), "recipe": spec.recipe}
    else:
        merged = absolute_paths(user, resolve)
    merged.update(extra)
    try:
        return type(spec)(**merged)
    except ValidationError as exc:
        raise fail(validation_message(exc, f"import spec (recipe {spec.recipe})")) from None


def resolve_spec(spec: dict | ImportSpec, base_dir: str | Path | None = None) -> ImportSpec:
    """Validate a spec, merge its recipe and make its paths absolute (relative to ``base_dir``)."""
    return apply_recipe(validate_spec(spec), path_resolver(base_dir))


def read_spec_file(path: Path, named_by: str) -> dict[str, Any]:
    """The mapping in a YAML import spec file; ``named_by`` says who named the file, for errors."""
    if not path.is_file():
        hint = " (a folder was given; name the YAML file)" if path.is_dir() else ""
        raise fail(f"Import spec file {path} does not exist{hint} ({named_by}).")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise fail(f"Import spec file {path} ({named_by}) is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise fail(
            f"Import spec file {path} ({named_by}) must hold a mapping of spec fields (path, bin_size_s, ...), "
            f"not {type(raw).__name__}. See docs/import_schema.md."
        )
    return raw


def input_files(spec: ImportSpec) -> list[tuple[str, Path]]:
    """(field, path) of every input file of a resolved spec; missing files raise DataError."""
    if not spec.path:
        raise fail("The import spec has no 'path': name the data file to import.")
    out = []
    for key in PATH_FIELDS:
        value = getattr(spec, key)
        if not value:
            continue
        p = Path(value)
        if not p.is_file():
            hint = " (a folder was given; name the data file)" if p.is_dir() else ""
            recipe_note = f" of recipe '{spec.recipe}'" if spec.recipe else ""
            raise fail(f"Import input file {p} does not exist{hint} (field '{key}'{recipe_note}).")
        out.append((key, p))
    for name, fs in spec.features.items():
        if fs.path and not Path(fs.path).is_file():
            raise fail(f"Import input file {fs.path} does not exist (field 'features.{name}.path').")
        if fs.path:
            out.append((f"features.{name}.path", Path(fs.path)))
    return out


def fingerprint(files: list[tuple[str, Path]]) -> list:
    """Path, size and modification time of each input: a changed input changes the cache key."""
    return [[key, str(p), p.stat().st_size, p.stat().st_mtime_ns] for key, p in files]


def format_of(spec: ImportSpec) -> str:
    if spec.format:
        return spec.format
    suffix = Path(spec.path or "").suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    hint = " (a YAML import spec file is named with 'spec:', not 'path:')" if suffix in ("yaml", "yml") else ""
    raise fail(
        f"Cannot tell the format of {spec.path} from its extension '.{suffix}' (field 'format'): "
        f"set format to one of {', '.join(FORMATS)}{hint}."
    )
