"""The ``willett_handwriting`` data source: a folder of Willett et al. 2021 day folders (the Dryad
``handwritingBCIData/Datasets``: t5.2019.05.08, t5.2019.11.25, ...), each holding a
``singleLetters.mat``, imported once per day (``single_letters`` layout) and cached, so that one
suite dataset holds every day and the task reports mean +- SD over days."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.data.importers.messages import fail
from bench.data.importers.resolve import fingerprint
from bench.data.importers.single_letters import read_single_letters
from bench.data.sources import DataSource, SourceParams, params_key
from bench.data.storage import save_recording
from bench.registry import data_sources

FILE = "singleLetters.mat"
# Part of the cache key: bump when the same inputs would import differently.
WILLETT_IMPORT_VERSION = "1"


class WillettParams(SourceParams):
    path: str
    sessions: list[str] | None = None  # day folder names to keep (default: every day with a singleLetters.mat)
    split_seed: int = 42


@data_sources.register("willett_handwriting")
class WillettHandwritingSource(DataSource):
    """Willett et al. 2021 day folders (singleLetters.mat), imported as one recording per day.

    Files go to ``<cache_dir>/imported/willett_handwriting-<key>/``."""

    Params = WillettParams

    def day_files(self) -> list[Path]:
        folder = self.resolve(self.params.path)
        if not folder.is_dir():
            raise fail(f"Data folder {folder} does not exist (data source 'willett_handwriting', field 'path'); "
                       f"expected the folder holding the day folders (t5.2019.05.08, ...) with {FILE}.")
        files = sorted(p for p in folder.glob(f"*/{FILE}"))
        if self.params.sessions is not None:
            wanted = set(self.params.sessions)
            files = [f for f in files if f.parent.name in wanted]
            missing = sorted(wanted - {f.parent.name for f in files})
            if missing:
                raise fail(f"Data folder {folder} has no day folder(s) {missing} holding {FILE} "
                           "(data source 'willett_handwriting', field 'sessions').")
        if not files:
            raise fail(f"Data folder {folder} holds no day folder with a {FILE} (data source 'willett_handwriting').")
        return files

    def materialize(self, progress: bool = True) -> list[Path]:
        files = self.day_files()
        key = params_key({"params": self.params.model_dump(mode="json"), "version": WILLETT_IMPORT_VERSION,
                          "inputs": fingerprint([(f.parent.name, f) for f in files])})
        out = self.cache_dir / "imported" / f"willett_handwriting-{key}"
        paths = []
        for f in files:
            target = out / f"{f.parent.name}.h5"
            if not target.is_file():
                if progress:
                    print(f"[import] {f} (single_letters) -> {target}", file=sys.stderr, flush=True)
                save_recording(read_single_letters(f, split_seed=self.params.split_seed), target)
            paths.append(target)
        return paths
