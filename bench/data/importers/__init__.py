"""Import one recording from array formats (.npz, .mat, .csv) or NWB (.nwb) into the HDF5 recording format.

The schema is in ``docs/import_schema.md``. The package reads a file in four steps, one module
each: ``spec`` (what the user wrote, validated; ``recipes/`` holds named specs as YAML),
``resolve`` (recipe merged, paths absolute), ``readers`` (one per format -> canonical arrays),
``layouts`` + ``timeline`` (arrays -> ``Recording``). ``source`` is the ``import`` data source.
"""

from bench.data.importers.api import import_arrays, import_file, import_from_spec, import_hints, load_spec
from bench.data.importers.resolve import resolve_spec
from bench.data.importers.source import IMPORTER_VERSION, ImportParams, ImportSource
from bench.data.importers.spec import ImportSpec, validate_spec

__all__ = [
    "IMPORTER_VERSION",
    "ImportParams",
    "ImportSource",
    "ImportSpec",
    "import_arrays",
    "import_file",
    "import_from_spec",
    "import_hints",
    "load_spec",
    "resolve_spec",
    "validate_spec",
]
