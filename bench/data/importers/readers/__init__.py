"""One reader per file format: a resolved spec -> (canonical arrays, where each came from)."""

from __future__ import annotations

from typing import Any, Callable

from bench.data.importers.messages import ArrayNames
from bench.data.importers.readers.csv import read_csv
from bench.data.importers.readers.mat import read_mat
from bench.data.importers.readers.npz import read_npz
from bench.data.importers.readers.nwb import read_nwb
from bench.data.importers.spec import ImportSpec

Reader = Callable[[ImportSpec], tuple[dict[str, Any], ArrayNames]]

READERS: dict[str, Reader] = {"npz": read_npz, "mat": read_mat, "csv": read_csv, "nwb": read_nwb}
