"""The ``import`` data source: a suite dataset read from .npz / .mat / .csv arrays, converted once and cached.

Its spec is given inline (``params: {path: ..., bin_size_s: ...}``, or a recipe + folder) or as a
YAML spec file (``params: {spec: my_session.yaml}``). A spec file is read and checked when the
source is built, i.e. when the suite is validated, so a broken spec never waits for a run to fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from bench.data.importers.api import import_hints, load_spec
from bench.data.importers.messages import fail
from bench.data.importers.resolve import (
    absolute_paths,
    apply_recipe,
    fingerprint,
    format_of,
    input_files,
    path_resolver,
    read_spec_file,
)
from bench.data.importers.spec import ImportSpec, safe_file_name, validate_spec
from bench.data.importers.timeline import recording_name
from bench.data.storage import save_recording
from bench.data.sources import DataSource, params_key
from bench.registry import data_sources

# Part of the cache key: bump when the same inputs would import differently.
IMPORTER_VERSION = "2"

YAML_SUFFIXES = (".yaml", ".yml")


class ImportParams(ImportSpec):
    """Parameters of the ``import`` data source: a spec file, a recipe + path, or a generic spec with a path."""

    name: str | None = Field(None, description="name of the cache folder (default: recipe or file stem)")
    spec: str | None = Field(
        None, description="a YAML import spec file, relative to the suite file; fields given beside it override it"
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        return safe_file_name(v, "name")

    @model_validator(mode="after")
    def _need_path(self) -> "ImportParams":
        if not self.path and not self.spec:
            raise ValueError(
                "data source 'import' needs 'path': the data file, or for a recipe the folder holding its files; "
                "or 'spec': a YAML import spec file"
            )
        if self.path and Path(self.path).suffix.lower() in YAML_SUFFIXES:
            raise ValueError(
                f"'path' names a YAML file ({self.path}): name an import spec file with 'spec: {self.path}'; "
                "'path' is the data file (.npz, .mat, .csv)"
            )
        return self


@data_sources.register("import")
class ImportSource(DataSource):
    """Import a recording from .npz / .mat / .csv arrays (a spec file, a recipe + path, or a generic spec).

    The HDF5 file is written once to ``<cache_dir>/imported/<name>-<key>/<recording_id>.h5``; the key
    hashes the spec, the input files' sizes and modification times and the importer version, so a
    changed input or importer writes a new file and an unchanged one is reused.
    """

    Params = ImportParams

    def __init__(self, params: ImportParams, cache_dir: Path | None = None, base_dir: Path | None = None):
        super().__init__(params, cache_dir=cache_dir, base_dir=base_dir)
        self.spec = self._merged_spec()

    def _merged_spec(self) -> ImportSpec:
        """The spec file's fields (paths taken from its folder) under the fields given in the suite."""
        own = self.params.model_dump(exclude_unset=True, exclude={"name", "spec"})
        if not self.params.spec:
            spec = validate_spec(own)
        else:
            file = self.resolve(self.params.spec)
            fields = read_spec_file(file, f"field 'spec' of data source 'import', relative to {self.base_dir}")
            fields = absolute_paths(fields, path_resolver(file.parent))  # paths in the file: from its folder
            spec = validate_spec({**fields, **own}, f"import spec file {file}")
            if not spec.path:
                raise fail(f"Import spec file {file} has no 'path': name the data file (or a recipe's folder) in it.")
        if not spec.recipe:
            format_of(spec)  # an unknown extension fails now, not at the run
        return spec

    def cache_path(self) -> tuple[ImportSpec, Path]:
        spec = apply_recipe(self.spec, self.resolve)
        files = input_files(spec)
        key = params_key({"spec": spec.model_dump(mode="json"), "inputs": fingerprint(files), "importer": IMPORTER_VERSION})
        name = self.params.name or spec.recipe or recording_name(spec)
        return spec, self.cache_dir / "imported" / f"{name}-{key}" / f"{recording_name(spec)}.h5"

    def materialize(self, progress: bool = True) -> list[Path]:
        spec, out = self.cache_path()
        if out.is_file():
            return [out]
        if progress:
            what = f"recipe {spec.recipe}" if spec.recipe else f"{spec.format or Path(spec.path).suffix} file"
            print(f"[import] {spec.path} ({what}) -> {out}", file=sys.stderr, flush=True)
        rec = load_spec(spec)
        for hint in import_hints(rec) if progress else ():
            print(f"[import] hint: {hint}", file=sys.stderr, flush=True)
        return [save_recording(rec, out)]
