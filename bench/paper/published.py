"""The published figures `bench paper` prints beside the harness's: read from published.yaml only.

The numbers are data, not code, each with the source it was read from, so a reader checks one
file against the paper and a correction is a one-line edit. The schema refuses a row whose value
count does not match the columns, or a source that is not listed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bench.errors import DataError

PUBLISHED_FILE = Path(__file__).with_name("published.yaml")


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NhpColumn(_Schema):
    paper: str
    dataset: str
    sessions: int


class NhpRow(_Schema):
    paper: str
    label: str
    values: list[float | None]
    source: str
    note: str | None = None  # how the row's figures map to the columns, where it is not plain


class Nhp(_Schema):
    metric: str
    note: str
    columns: list[NhpColumn]
    rows: list[NhpRow]

    @model_validator(mode="after")
    def _one_value_per_column(self) -> "Nhp":
        for row in self.rows:
            if len(row.values) != len(self.columns):
                raise ValueError(f"nhp row '{row.paper}' has {len(row.values)} values for {len(self.columns)} columns")
        return self


class MeanSdRow(_Schema):
    paper: str
    label: str
    mean: float
    sd: float
    source: str


class Handwriting(_Schema):
    metric: str
    unit: str
    rows: list[MeanSdRow]


class ValueRow(_Schema):
    paper: str
    label: str
    value: float
    source: str


class Speech(_Schema):
    metric: str
    unit: str
    rows: list[ValueRow]


class LatencyPoint(_Schema):
    paper: str
    label: str
    device: str
    ms: float
    params: int | None
    source: str


class Latency(_Schema):
    chunk_ms: float
    budget_ms: float
    points: list[LatencyPoint]


class Published(_Schema):
    sources: dict[str, str]
    nhp: Nhp
    handwriting: Handwriting
    speech: Speech
    latency: Latency

    @model_validator(mode="after")
    def _sources_listed(self) -> "Published":
        rows = [*self.nhp.rows, *self.handwriting.rows, *self.speech.rows, *self.latency.points]
        unknown = sorted({r.source for r in rows} - set(self.sources))
        if unknown:
            raise ValueError(f"rows cite sources not listed under 'sources': {unknown}")
        return self


def load_published(path: Path = PUBLISHED_FILE) -> Published:
    """The published figures; a damaged file is a DataError naming it and the field."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return Published.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"The published figures file {path} cannot be read ({exc}).") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise DataError(f"The published figures file {path} is invalid at '{where}': {first['msg']}. "
                        "Each row needs its paper name, harness label, value(s) and a listed source.") from None


@lru_cache(maxsize=1)
def published() -> Published:
    return load_published()
